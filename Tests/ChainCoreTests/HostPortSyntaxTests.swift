import XCTest
import ChainCore

/// Every address flag's syntax: IPv4, [IPv6], DNS names, and what is refused.
final class HostPortSyntaxTests: XCTestCase {
    func testAcceptedForms() {
        XCTAssertEqual(HostPortSyntax.parse("10.0.0.5:6380")?.host, .ipv4("10.0.0.5"))
        XCTAssertEqual(HostPortSyntax.parse("[::1]:7000")?.host, .ipv6("::1"))
        XCTAssertEqual(HostPortSyntax.parse("[fd00:0:0:1::5]:7000")?.port, 7000)
        XCTAssertEqual(HostPortSyntax.parse("[::ffff:10.0.0.5]:1")?.host, .ipv6("::ffff:10.0.0.5"))
        XCTAssertEqual(HostPortSyntax.parse("[fe80::1%eth0]:1")?.host, .ipv6("fe80::1%eth0"))
        XCTAssertEqual(HostPortSyntax.parse("db-1.example.net:6380")?.host, .name("db-1.example.net"))
        XCTAssertEqual(HostPortSyntax.parse("vm:7000")?.host, .name("vm"))
        XCTAssertEqual(HostPortSyntax.parse("node_2.internal.:7000")?.host, .name("node_2.internal."))
        XCTAssertEqual(HostPortSyntax.parse(":6380")?.host, .any)
    }

    func testRefusedForms() {
        for bad in ["", "host", "host:", "host:65536", "host:-1", "::1:7000", "[::1]", "[::1:7000", "[]:7000", "[nothex::1]:1",
                    "1.2.3.999:1", "1.2.3:1", "-bad.example:1", "bad-.example:1", "a..b:1", "sp ace:1", "ü.example:1",
                    "[1:2:3:4:5:6:7:8:9]:1", "[1::2::3]:1", String(repeating: "a", count: 64) + ".x:1"] {
            XCTAssertNil(HostPortSyntax.parse(bad), bad)
        }
    }

    func testFormatBracketsIPv6() {
        XCTAssertEqual(HostPortSyntax.format(host: "::1", port: 7000), "[::1]:7000")
        XCTAssertEqual(HostPortSyntax.format(host: "10.0.0.5", port: 1), "10.0.0.5:1")
        XCTAssertEqual(HostPortSyntax.format(host: "vm", port: 2), "vm:2")
        for text in ["[::1]:7000", "10.0.0.5:1", "vm:2"] {
            let p = HostPortSyntax.parse(text)!
            XCTAssertEqual(HostPortSyntax.format(host: p.host.text, port: p.port), text)
        }
    }
}
