import XCTest
import ChainCore

/// The few words that say what a new configuration changed (load plots' event list).
final class ConfigurationChangeTests: XCTestCase {
    let nodes = ["n1", "n2", "n3", "n4"].map { NodeInfo(id: $0, client: "c-\($0)", peer: "p-\($0)", http: "") }

    func config(_ epoch: Epoch, _ chains: [ChainConfig], nodes: [NodeInfo]? = nil) -> Configuration {
        Configuration(epoch: epoch, replication: 3, nodes: nodes ?? self.nodes, chains: chains)
    }

    func testSpliceJoinPromotionAndReorderAreNamed() {
        let a = config(1, [ChainConfig(id: 0, members: ["n1", "n2", "n3"]), ChainConfig(id: 1, members: ["n2", "n3", "n1"])])
        XCTAssertEqual(ConfigurationChange.summary(from: nil, to: a), "first table: 2 chains on 4 nodes")
        // n2 dies: spliced out of both chains; chain 1's head moves to n3.
        let b = config(2, [ChainConfig(id: 0, members: ["n1", "n3"]), ChainConfig(id: 1, members: ["n3", "n1"])])
        XCTAssertEqual(ConfigurationChange.summary(from: a, to: b), "n2 left 2 chains; 1 head moved")
        let c = config(3, [ChainConfig(id: 0, members: ["n1", "n3"], joining: "n4"), ChainConfig(id: 1, members: ["n3", "n1"], joining: "n4")])
        XCTAssertEqual(ConfigurationChange.summary(from: b, to: c), "n4 copying 2 chains")
        let d = config(4, [ChainConfig(id: 0, members: ["n1", "n3", "n4"]), ChainConfig(id: 1, members: ["n3", "n1"], joining: "n4")])
        XCTAssertEqual(ConfigurationChange.summary(from: c, to: d), "n4 joined 1 chain", "a promoted joiner is no tail move")
        let e = config(5, [ChainConfig(id: 0, members: ["n1", "n3", "n4"], frozen: 5), ChainConfig(id: 1, members: ["n3", "n1"], joining: "n4")])
        XCTAssertEqual(ConfigurationChange.summary(from: d, to: e), "1 chain paused to reorder")
        let f = config(6, [ChainConfig(id: 0, members: ["n1", "n4", "n3"]), ChainConfig(id: 1, members: ["n3", "n1"], joining: "n4")])
        XCTAssertEqual(ConfigurationChange.summary(from: e, to: f), "1 tail moved")
        // A cluster stop freezes every chain at once, the start thaws them all.
        var stopped = f
        stopped.epoch = 7
        for i in stopped.chains.indices { stopped.chains[i].frozen = 7 }
        XCTAssertEqual(ConfigurationChange.summary(from: f, to: stopped), "every chain paused (a cluster stop)")
        var started = stopped
        started.epoch = 8
        for i in started.chains.indices { started.chains[i].frozen = nil }
        XCTAssertEqual(ConfigurationChange.summary(from: stopped, to: started), "every chain resumed")
    }

    func testNodeListChangesAndNothing() {
        let a = config(1, [ChainConfig(id: 0, members: ["n1", "n2", "n3"])])
        var moved = nodes
        moved[0].client = "elsewhere"
        let b = config(2, a.chains, nodes: moved + [NodeInfo(id: "n5", client: "", peer: "", http: "")])
        XCTAssertEqual(ConfigurationChange.summary(from: a, to: b), "n5 added; n1 moved address")
        XCTAssertEqual(ConfigurationChange.summary(from: b, to: config(3, a.chains, nodes: moved)), "n5 removed")
        XCTAssertEqual(ConfigurationChange.summary(from: a, to: config(2, a.chains)), "no chain change")
    }
}
