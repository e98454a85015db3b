import Foundation
import XCTest
import ChainClient

/// The master's HTTP/JSON API refuses bad input with a 4xx and a one-line reason, and changes
/// nothing.
final class MasterAPITests: XCTestCase {
    private var cluster: LocalCluster?

    override func tearDown() {
        cluster?.shutdown()
        cluster = nil
        super.tearDown()
    }

    func testBadRequestsAreRefused() throws {
        let c = LocalCluster(label: "master-api")
        cluster = c
        try c.startMaster()
        func post(_ path: String, _ body: String) throws -> HTTPClient.Response {
            try HTTPClient.request(method: "POST", host: "127.0.0.1", port: c.masterPort, path: path, body: Array(body.utf8))
        }
        let malformed = try post("/v1/nodes/register", "{\"id\":")
        XCTAssertEqual(malformed.status, 400)
        XCTAssert(malformed.text.contains("not valid JSON"), malformed.text)
        let missing = try post("/v1/nodes/register", "{\"id\":\"a\"}")
        XCTAssertEqual(missing.status, 400)
        XCTAssert(missing.text.contains("missing field"), missing.text)
        let badID = try post("/v1/nodes/register", "{\"id\":\"no spaces\",\"client\":\"a\",\"peer\":\"b\",\"http\":\"c\"}")
        XCTAssertEqual(badID.status, 409)
        XCTAssert(badID.text.contains("invalid node id"), badID.text)
        XCTAssertEqual(try post("/v1/nodes/heartbeat", "{\"id\":\"ghost\",\"epoch\":0,\"chains\":[]}").status, 404)
        XCTAssertEqual(try post("/v1/nodes/drain", "{\"id\":\"ghost\"}").status, 409)
        XCTAssertEqual(try post("/v1/nodes/remove", "{\"id\":\"ghost\"}").status, 409)
        XCTAssertEqual(try HTTPClient.get(host: "127.0.0.1", port: c.masterPort, path: "/v1/nodes/register").status, 405)
        XCTAssertEqual(try HTTPClient.get(host: "127.0.0.1", port: c.masterPort, path: "/v1/config?after=x").status, 400)
        XCTAssertEqual(try HTTPClient.get(host: "127.0.0.1", port: c.masterPort, path: "/nope").status, 404)
        // Nothing was registered by any of that.
        let status = try c.status()
        XCTAssertEqual(status.nodes.count, 0)
        XCTAssertEqual(status.epoch, 0)
    }
}
