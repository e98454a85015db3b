import Foundation
import XCTest
import ChainClient
import ChainCore
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// Addresses as operators write them: a whole cluster on IPv6, and names that do not resolve
/// (a clear error, nothing crashes, the node keeps trying).
final class AddressTests: ClusterTestCase {
    func testWholeClusterOverIPv6() throws {
        let c = try LocalCluster.start(label: "ipv6", loopback: "::1")
        cluster = c
        let nodes = try c.ctl(["nodes"])
        XCTAssertEqual(nodes.code, 0, nodes.err)
        XCTAssert(nodes.out.contains("[::1]:\(c.ports["n1"]!.client)"), nodes.out)
        // Written through one node, read through another: forwarding and the chain links speak IPv6.
        XCTAssertEqual(try c.client("n1").call("SET", "six", "over-ipv6"), .simple("OK"))
        XCTAssertEqual(try c.client("n3").call("GET", "six"), .bulk(Array("over-ipv6".utf8)))
        let smart = try c.smartClient()
        XCTAssertEqual(try smart.execute("INCR", "counter"), .integer(1))
        XCTAssertEqual(try c.ctl(["get", "six"]).out.trimmingCharacters(in: .whitespacesAndNewlines), "over-ipv6")
        XCTAssertEqual(try HTTPClient.get(host: "::1", port: c.ports["n2"]!.http, path: "/readyz").status, 200)
    }

    /// Every process addressed by this machine's host name (resolved through the system
    /// resolver, off the event loops): nodes listen on it and advertise it, peers, forwarding,
    /// the smart client and chainctl all reach each other by name.
    func testWholeClusterByHostName() throws {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count)
        let name = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var found: UnsafeMutablePointer<addrinfo>?
        defer { if let found { freeaddrinfo(found) } }
        guard HostPortSyntax.parse("\(name):1") != nil, getaddrinfo(name, nil, nil, &found) == 0 else {
            throw XCTSkip("this machine's host name '\(name)' does not resolve")
        }
        let c = LocalCluster(label: "names", loopback: name)
        cluster = c
        try c.startMaster(replication: 3, initialNodes: 3)
        for i in 1...3 { try c.startNode("n\(i)", extra: ["--advertise-host", name]) }
        try c.waitHealthy()
        let nodes = try c.ctl(["nodes"])
        XCTAssert(nodes.out.contains("\(name):\(c.ports["n1"]!.client)"), nodes.out)
        XCTAssertEqual(try c.client("n1").call("SET", "named", "yes"), .simple("OK"))
        XCTAssertEqual(try c.client("n2").call("GET", "named"), .bulk(Array("yes".utf8)))
        XCTAssertEqual(try c.smartClient().execute("GET", "named"), .bulk(Array("yes".utf8)))
    }

    func testUnresolvableNamesGetAClearError() throws {
        let ctl = try Harness.run(Harness.binary("chainctl"), ["--master", "no-such-host.invalid:7000", "status"], timeout: 60)
        XCTAssertEqual(ctl.code, 1)
        XCTAssert(ctl.err.contains("cannot resolve no-such-host.invalid:7000"), ctl.err)
        let bad = try Harness.run(Harness.binary("chainctl"), ["--master", "::1:7000", "status"])
        XCTAssertEqual(bad.code, 64, "an IPv6 address without brackets is a usage error: \(bad.err)")

        // A node whose master name does not resolve keeps running, says why, and serves nothing.
        let c = LocalCluster(label: "unresolvable")
        cluster = c
        let n = try c.startNode("n1", master: "no-such-host.invalid:7000")
        XCTAssert(Harness.waitFor(30) { c.tail(n.log).contains("cannot resolve no-such-host.invalid:7000") }, c.tail(n.log))
        XCTAssertTrue(n.isRunning)
        let health = try HTTPClient.get(host: "127.0.0.1", port: c.ports["n1"]!.http, path: "/healthz")
        XCTAssertEqual(health.status, 503)
        XCTAssert(health.text.contains("no configuration"), health.text)

        // Listening on a name that does not resolve is a start-up error, not a crash.
        let listen = try Harness.run(Harness.binary("chainserver"), ["--standalone", "--listen", "no-such-host.invalid:0",
                                                                       "--data-dir", c.dir + "/listen"], timeout: 60)
        XCTAssertEqual(listen.code, 3, listen.err)
        XCTAssert((listen.err + listen.out).contains("cannot resolve no-such-host.invalid:0"), listen.err + listen.out)
    }
}
