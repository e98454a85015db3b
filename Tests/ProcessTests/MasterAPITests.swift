import Foundation
import XCTest
import ChainClient

/// The master's HTTP/JSON API refuses bad input with a 4xx and a one-line reason, and changes
/// nothing.
final class MasterAPITests: ClusterTestCase {
    func testBadRequestsAreRefused() throws {
        let c = LocalCluster(label: "master-api")
        cluster = c
        try c.startMaster()
        func post(_ path: String, _ body: String) throws -> HTTPClient.Response {
            try HTTPClient.request(method: "POST", host: "127.0.0.1", port: c.masterPort, path: path, body: Array(body.utf8))
        }
        func get(_ path: String) throws -> HTTPClient.Response {
            try HTTPClient.get(host: "127.0.0.1", port: c.masterPort, path: path)
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
        let addGhost = try post("/v1/nodes/add", "{\"id\":\"ghost\"}")
        XCTAssertEqual(addGhost.status, 409)
        XCTAssert(addGhost.text.contains("no node 'ghost' is registered"), addGhost.text)
        let badAction = try post("/v1/plan", "{\"action\":\"explode\",\"id\":\"ghost\"}")
        XCTAssertEqual(badAction.status, 400)
        XCTAssert(badAction.text.contains("action must be 'add' or 'drain'"), badAction.text)
        XCTAssertEqual(try post("/v1/plan", "{\"id\":\"ghost\"}").status, 400, "missing action")
        for path in ["/v1/nodes/register", "/v1/nodes/add", "/v1/plan"] { XCTAssertEqual(try get(path).status, 405, path) }
        XCTAssertEqual(try get("/v1/config?after=x").status, 400)
        XCTAssertEqual(try get("/nope").status, 404)
        // Nothing was registered by any of that.
        var status = try c.status()
        XCTAssertEqual(status.nodes.count, 0)
        XCTAssertEqual(status.epoch, 0)

        // Before the table is formed a registered node cannot be added.
        let reg = try post("/v1/nodes/register", "{\"id\":\"early\",\"client\":\"127.0.0.1:1\",\"peer\":\"127.0.0.1:2\",\"http\":\"127.0.0.1:3\"}")
        XCTAssertEqual(reg.status, 200)
        let notFormed = try post("/v1/nodes/add", "{\"id\":\"early\"}")
        XCTAssertEqual(notFormed.status, 409)
        XCTAssert(notFormed.text.contains("not formed yet"), notFormed.text)
        status = try c.status()
        XCTAssertEqual(status.epoch, 0, "one registration forms no table (3 nodes needed)")
    }
}
