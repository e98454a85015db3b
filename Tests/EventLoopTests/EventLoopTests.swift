import Foundation
import XCTest
import Synchronization
@testable import EventLoop
import ChainClient

/// Runs an event loop on its own thread for the duration of a test.
final class LoopThread: @unchecked Sendable {
    let loop: EventLoop
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    init() throws {
        loop = try EventLoop()
        thread = Thread { [loop, done] in
            loop.run()
            done.signal()
        }
        thread!.start()
    }

    /// Runs `body` on the loop and waits for it.
    func sync<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = Mutex<Result<T, any Error>?>(nil)
        let sem = DispatchSemaphore(value: 0)
        loop.submit {
            box.withLock { $0 = Result { try body() } }
            sem.signal()
        }
        XCTAssertEqual(sem.wait(timeout: .now() + 5), .success)
        return try box.withLock { $0! }.get()
    }

    func stop() {
        loop.stop()
        _ = done.wait(timeout: .now() + 5)
    }
}

final class EventLoopTests: XCTestCase {
    func testSubmitFromManyThreadsRunsEverything() throws {
        let t = try LoopThread()
        defer { t.stop() }
        let count = Mutex(0)
        let all = DispatchSemaphore(value: 0)
        DispatchQueue.concurrentPerform(iterations: 1000) { _ in
            t.loop.submit {
                let n = count.withLock { $0 += 1; return $0 }
                if n == 1000 { all.signal() }
            }
        }
        XCTAssertEqual(all.wait(timeout: .now() + 5), .success)
    }

    func testTimersFireInOrderAndCancelWorks() throws {
        let t = try LoopThread()
        defer { t.stop() }
        let fired = Mutex<[String]>([])
        let sem = DispatchSemaphore(value: 0)
        try t.sync {
            Timer(loop: t.loop, afterMs: 30) { fired.withLock { $0.append("late") }; sem.signal() }
            Timer(loop: t.loop, afterMs: 5) { fired.withLock { $0.append("early") } }
            let cancelled = Timer(loop: t.loop, afterMs: 10) { fired.withLock { $0.append("cancelled") } }
            cancelled.cancel()
        }
        XCTAssertEqual(sem.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(fired.withLock { $0 }, ["early", "late"])
    }

    func testEndOfTurnRunsAfterCallbacks() throws {
        let t = try LoopThread()
        defer { t.stop() }
        let order = Mutex<[Int]>([])
        let sem = DispatchSemaphore(value: 0)
        t.loop.submit {
            t.loop.atEndOfTurn { order.withLock { $0.append(2) }; sem.signal() }
            order.withLock { $0.append(1) }
        }
        XCTAssertEqual(sem.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(order.withLock { $0 }, [1, 2])
    }

    /// Handlers added while end-of-turn handlers run go in a later round of the same turn, in
    /// the order added; the lists swapped between rounds and turns lose and repeat nothing.
    func testEndOfTurnHandlersAddedMeanwhileRunInOrder() throws {
        let t = try LoopThread()
        defer { t.stop() }
        let order = Mutex<[String]>([])
        for turn in 0..<3 {
            let sem = DispatchSemaphore(value: 0)
            t.loop.submit {
                t.loop.atEndOfTurn {
                    order.withLock { $0.append("\(turn)a") }
                    t.loop.atEndOfTurn {
                        order.withLock { $0.append("\(turn)c") }
                        t.loop.atEndOfTurn { order.withLock { $0.append("\(turn)d") }; sem.signal() }
                    }
                }
                t.loop.atEndOfTurn { order.withLock { $0.append("\(turn)b") } }
            }
            XCTAssertEqual(sem.wait(timeout: .now() + 5), .success)
        }
        XCTAssertEqual(order.withLock { $0 }, (0..<3).flatMap { t in ["a", "b", "c", "d"].map { "\(t)\($0)" } })
    }

    func testEchoOverTCP() throws {
        XCTAssertEqual(try echo(listenAt: SocketAddress(host: "127.0.0.1", port: 0)) { SocketAddress(host: "127.0.0.1", port: $0.port) }, .closedLocally)
    }

    /// An IPv6 listener and an IPv6 connect, from the bracketed flag syntax.
    func testEchoOverIPv6() throws {
        let end = try echo(listenAt: SocketAddress(parsing: "[::1]:0")) { bound in
            XCTAssertEqual(bound.description, "[::1]:\(bound.port)")
            return try SocketAddress(parsing: "[::1]:\(bound.port)")
        }
        XCTAssertEqual(end, .closedLocally)
    }

    /// A connect to a host name resolves it off the loop, then connects.
    func testConnectByName() throws {
        // Listen where the resolver sends "localhost" first (127.0.0.1 or ::1, by /etc/hosts).
        let first = try SocketAddress(host: "localhost", port: 0).resolve()[0]
        XCTAssertTrue(first.isNumeric)
        let byName = SocketAddress(host: "localhost", port: 0)
        XCTAssertFalse(byName.isNumeric)
        XCTAssertEqual(try echo(listenAt: first) { SocketAddress(host: byName.host, port: $0.port) }, .closedLocally)
    }

    func testUnresolvableNameEndsTheConnection() throws {
        let t = try LoopThread()
        defer { t.stop() }
        let end = Mutex<Connection.End?>(nil)
        let sem = DispatchSemaphore(value: 0)
        try t.sync {
            // .invalid never resolves (RFC 6761).
            let c = try Connection.connect(loop: t.loop, to: SocketAddress(parsing: "no-such-host.invalid:1"))
            c.onClose = { _, e in end.withLock { $0 = e }; sem.signal() }
        }
        XCTAssertEqual(sem.wait(timeout: .now() + 30), .success)
        guard case let .unresolvable(why)? = end.withLock({ $0 }) else { return XCTFail("\(String(describing: end.withLock { $0 }))") }
        XCTAssert(why.contains("no-such-host.invalid:1"), why)
    }

    /// Listens at `listenAt`, connects to `target(bound address)`, sends "hello", waits for the
    /// echo and closes; returns how the client's connection ended.
    private func echo(listenAt: SocketAddress, _ target: (SocketAddress) throws -> SocketAddress) throws -> Connection.End? {
        let t = try LoopThread()
        defer { t.stop() }
        let bound = try t.sync { () -> SocketAddress in
            let l = try TCPListener(loop: t.loop, address: listenAt) { conn in
                conn.onRead = { c in
                    var buf: [UInt8] = []
                    c.read(appendingTo: &buf)
                    c.write(buf)
                }
            }
            return l.address
        }
        XCTAssertNotEqual(bound.port, 0)
        let to = try target(bound)
        let received = Mutex<[UInt8]>([])
        let closed = Mutex<Connection.End?>(nil)
        let sem = DispatchSemaphore(value: 0)
        try t.sync {
            let c = try Connection.connect(loop: t.loop, to: to)
            c.onConnected = { c in c.write(Array("hello".utf8)) }
            c.onRead = { c in
                var buf: [UInt8] = []
                c.read(appendingTo: &buf)
                let all = received.withLock { $0 += buf; return $0 }
                if all.count >= 5 { c.close() }
            }
            c.onClose = { _, end in closed.withLock { $0 = end }; sem.signal() }
        }
        XCTAssertEqual(sem.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(received.withLock { $0 }, Array("hello".utf8))
        return closed.withLock { $0 }
    }

    /// Plaintext connections read the socket themselves: bytes an owner leaves unread in one
    /// callback come first in the next, a transfer larger than the read buffer arrives whole and
    /// in order, and the peer's close is reported after its data.
    func testDirectReadsKeepUnreadBytesAndOrder() throws {
        let t = try LoopThread()
        defer { t.stop() }
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let got = Mutex<[UInt8]>([])
        let callbacks = Mutex(0)
        let end = Mutex<Connection.End?>(nil)
        let sem = DispatchSemaphore(value: 0)
        let port = try t.sync { () -> UInt16 in
            let l = try TCPListener(loop: t.loop, address: SocketAddress(host: "127.0.0.1", port: 0)) { conn in
                conn.onRead = { c in
                    // Every other callback leaves the bytes where they are.
                    guard callbacks.withLock({ $0 += 1; return $0 }) % 2 == 0 else { return }
                    var buf: [UInt8] = []
                    c.read(appendingTo: &buf)
                    got.withLock { $0 += buf }
                }
                conn.onClose = { _, e in
                    end.withLock { $0 = e }
                    sem.signal()
                }
            }
            return l.address.port
        }
        try t.sync {
            let c = try Connection.connect(loop: t.loop, to: SocketAddress(host: "127.0.0.1", port: port))
            c.onConnected = { c in
                c.write(payload)
                c.closeAfterFlush()
            }
        }
        XCTAssertEqual(sem.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(end.withLock { $0 }, .peerClosed)
        // The last unconsumed chunk (if the final callback skipped) is dropped with the connection.
        let received = got.withLock { $0 }
        XCTAssertGreaterThan(callbacks.withLock { $0 }, 2, "a 1 MiB transfer takes many reads")
        XCTAssertEqual(Array(payload.prefix(received.count)), received, "bytes in order, none lost or repeated")
        XCTAssertGreaterThan(received.count, payload.count - (64 << 10) * 2)
    }

    func testConnectFailureIsReported() throws {
        let t = try LoopThread()
        defer { t.stop() }
        let end = Mutex<Connection.End?>(nil)
        let sem = DispatchSemaphore(value: 0)
        try t.sync {
            // Port 1 on loopback: nothing listens there.
            let c = try Connection.connect(loop: t.loop, to: SocketAddress(host: "127.0.0.1", port: 1))
            c.onClose = { _, e in end.withLock { $0 = e }; sem.signal() }
        }
        XCTAssertEqual(sem.wait(timeout: .now() + 5), .success)
        guard case .connectFailed = end.withLock({ $0 }) else { return XCTFail("\(String(describing: end.withLock { $0 }))") }
    }

    func testHTTPServerAnswersAndHoldsRequests() throws {
        let t = try LoopThread()
        defer { t.stop() }
        let port = try t.sync { () -> UInt16 in
            let h = try HTTPServer(loop: t.loop, address: SocketAddress(host: "127.0.0.1", port: 0)) { req in
                if req.path == "/later" {
                    Timer(loop: t.loop, afterMs: 20) { req.respond(status: 200, text: "late \(req.query["x"] ?? "")") }
                } else {
                    req.respond(status: 404, text: "nope")
                }
            }
            return h.address.port
        }
        XCTAssertEqual(try httpGet(port: port, path: "/later?x=1"), "late 1")
        XCTAssertEqual(try httpGet(port: port, path: "/other"), "nope")
    }

    func testAddressForms() throws {
        for bad in ["nohost", "127.0.0.1:99999", "::1:80", "1.2.3.999:1", "bad host:1"] {
            XCTAssertThrowsError(try SocketAddress(parsing: bad), bad)
        }
        XCTAssertEqual(try SocketAddress(parsing: "localhost:7"), SocketAddress(host: "127.0.0.1", port: 7))
        XCTAssertEqual(try SocketAddress(parsing: ":7"), SocketAddress(host: "0.0.0.0", port: 7))
        let named = try SocketAddress(parsing: "example.com:80")
        XCTAssertFalse(named.isNumeric, "a name, resolved when used")
        XCTAssertTrue(try SocketAddress(parsing: "[::1]:80").isNumeric)
        XCTAssertThrowsError(try SocketAddress(parsing: "no-such-host.invalid:1").resolve()) { e in
            guard case .unresolvable = e as? EventLoopError else { return XCTFail("\(e)") }
        }
    }

    func testHTTPOverIPv6() throws {
        let t = try LoopThread()
        defer { t.stop() }
        let port = try t.sync { () -> UInt16 in
            try HTTPServer(loop: t.loop, address: SocketAddress(parsing: "[::1]:0")) { $0.respond(status: 200, text: "six") }.address.port
        }
        XCTAssertEqual(try HTTPClient.get(host: "::1", port: port, path: "/").text, "six")
    }

    private func httpGet(port: UInt16, path: String) throws -> String {
        try HTTPClient.get(host: "127.0.0.1", port: port, path: path).text
    }
}
