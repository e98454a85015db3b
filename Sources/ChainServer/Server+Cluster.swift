import ChainCore
import EventLoop
import Foundation

/// Cluster-mode start-up: the chain node, its peer listener and its link to the master.
extension Server {
    func startCluster() throws(EventLoopError) {
        guard let settings = config.cluster else { return }
        let node = ChainNode(server: self, me: config.nodeID, settings: settings)
        let peers = PeerLinks(node: node, loop: loop, me: config.nodeID, secret: settings.secret, tls: settings.peerTLS,
                              features: config.announcePeerFeatures ? .all : [])
        try peers.listen(on: settings.peerListen)
        node.peers = peers
        node.forwarder = Forwarder(server: self)
        let adv = settings.advertise
        let info = NodeInfo(id: config.nodeID,
                            client: adv.address(adv.client, bound: listenAddress),
                            peer: adv.address(adv.peer, bound: peers.listenAddress ?? settings.peerListen),
                            http: (httpAddress ?? config.httpListen).map { adv.address(adv.http, bound: $0) } ?? adv.http ?? "")
        node.masterLink = MasterLink(master: settings.master, token: settings.masterToken, tls: settings.masterTLS, info: info, node: LoopBound(node, loop: loop))
        if let json = try? data.store.get(ChainMetadata.configKey),
           let last = try? JSONDecoder().decode(Configuration.self, from: Data(json)) {
            node.masterLink.installed(last)
        }
        chainNode = node
        node.masterLink.start()
        // Chain progress for heartbeats, refreshed on the loop (the heartbeat thread reads a copy).
        var ticks = 0
        var storeBytes = 0
        Timer(loop: loop, afterMs: 100, repeating: true) { [unowned self, unowned node] in
            if ticks % 20 == 0 { storeBytes = data.store.estimatedDataBytes }
            ticks += 1
            node.announceJoins()
            node.wakeFrozenWrites()
            wakeReroutes()
            if ticks % 5 == 0 { node.checkStalls() }
            node.masterLink.report(node.progress, epoch: node.epoch, storeBytes: storeBytes, unreachable: node.unreachablePeers())
        }
    }
}
