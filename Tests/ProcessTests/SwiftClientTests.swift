import Foundation
import XCTest
import ChainClient
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// The Swift client against a real server: binary data, pipelining, inline commands, RESP3.
final class SwiftClientTests: ProcessTestCase {
    func testBinarySafeKeysAndValues() throws {
        let s = try makeServer("bin", extraArgs: ["--durability", "memory"])
        let c = try s.client()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let key = (0..<Int.random(in: 1...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let value = (0..<Int.random(in: 0...5000, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            XCTAssertEqual(try c.call([bytes("SET"), key, value]), .simple("OK"))
            XCTAssertEqual(try c.call([bytes("GET"), key]), .bulk(value))
        }
        XCTAssertEqual(try c.call([bytes("SET"), [], bytes("empty key")]), .simple("OK"))
        XCTAssertEqual(try c.call([bytes("GET"), []]), .bulk(bytes("empty key")))
        XCTAssertEqual(try c.call([bytes("SET"), bytes("ev"), []]), .simple("OK"))
        XCTAssertEqual(try c.call([bytes("GET"), bytes("ev")]), .bulk([]))
        XCTAssertEqual(try c.call([bytes("GET"), bytes("none")]), .bulk(nil))
    }

    func testPipelineRepliesInOrder() throws {
        let s = try makeServer("pipe", extraArgs: ["--durability", "fsync"])
        let c = try s.client()
        var cmds: [[[UInt8]]] = []
        for i in 0..<2000 {
            cmds.append([bytes("INCR"), bytes("counter")])
            if i % 3 == 0 { cmds.append([bytes("GET"), bytes("counter")]) }
        }
        let replies = try c.pipeline(cmds)
        var expected = 0
        var idx = 0
        for i in 0..<2000 {
            expected += 1
            XCTAssertEqual(replies[idx], .integer(Int64(expected)))
            idx += 1
            if i % 3 == 0 {
                XCTAssertEqual(replies[idx], .bulk(bytes("\(expected)")), "a GET sees every earlier INCR of the pipeline")
                idx += 1
            }
        }
    }

    func testInlineCommandsLikeTelnet() throws {
        let s = try makeServer("inline", extraArgs: ["--durability", "memory"])
        let c = try s.client()
        try c.send(bytes("SET greeting \"hello world\"\r\nGET greeting\r\nPING\n"))
        XCTAssertEqual(try c.readReply(), .simple("OK"))
        XCTAssertEqual(try c.readReply(), .bulk(bytes("hello world")))
        XCTAssertEqual(try c.readReply(), .simple("PONG"))
    }

    func testRESP3AfterHello() throws {
        let s = try makeServer("resp3", extraArgs: ["--durability", "memory"])
        let c = try s.client()
        guard case let .map(pairs) = try c.call("HELLO", "3") else { return XCTFail("HELLO 3 must answer a map") }
        XCTAssert(pairs.contains(RESPPair(.bulk(bytes("proto")), .integer(3))))
        XCTAssertEqual(try c.call("GET", "missing"), .null)
        XCTAssertEqual(try c.call("CONFIG", "GET", "save"), .map([RESPPair(.bulk(bytes("save")), .bulk([]))]))
        guard case .verbatim = try c.call("INFO", "server") else { return XCTFail("INFO is verbatim text in RESP3") }
        _ = try c.call("HELLO", "2")
        XCTAssertEqual(try c.call("GET", "missing"), .bulk(nil))
    }

    func testManyConcurrentClients() throws {
        let s = try makeServer("concurrent", extraArgs: ["--durability", "fsync"])
        let port = s.port
        let failures = Locked(0)
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            do {
                let c = try RESPClient(port: port)
                for i in 0..<200 {
                    guard try c.call("SET", "t\(t):\(i)", "\(i)") == .simple("OK") else { failures.mutate { $0 += 1 }; return }
                }
            } catch { failures.mutate { $0 += 1 } }
        }
        XCTAssertEqual(failures.value, 0)
        let c = try s.client()
        for t in 0..<8 { XCTAssertEqual(try c.call("GET", "t\(t):199"), .bulk(bytes("199"))) }
    }
}

/// A tiny lock-protected box for counters shared by test threads.
final class Locked<T>: @unchecked Sendable {
    private var v: T
    private let lock = NSLock()
    init(_ v: T) { self.v = v }
    var value: T { lock.lock(); defer { lock.unlock() }; return v }
    func mutate(_ f: (inout T) -> Void) { lock.lock(); f(&v); lock.unlock() }
}
