import ChainCore
import EventLoop
import RESP

/// Relays requests this node does not serve to the node that does, over ordinary RESP
/// connections (one per target node, requests pipelined, replies matched in order), and fills
/// the waiting client's reply slot with the answer.
final class Forwarder {
    unowned let server: Server
    private var targets: [NodeID: ForwardTarget] = [:]

    init(server: Server) { self.server = server }

    func configure(_ config: Configuration) {
        for (id, t) in targets where config.node(id)?.client != t.address {
            t.fail("node \(id) moved or left")
            targets.removeValue(forKey: id)
        }
    }

    /// Forwarded requests waiting for their answer, over all targets.
    var inFlight: Int { targets.values.reduce(0) { $0 + $1.pending } }

    func forward(_ args: [[UInt8]], to node: NodeID, address: String, slot: UInt64, protocolVersion: Int) {
        guard inFlight < server.config.maxForwarded else {
            server.metrics.error("forward_limit")
            server.fillSlot(slot, bytes: Array("-TRYAGAIN chainstore: \(server.config.maxForwarded) requests already forwarded and waiting (--max-forwarded); retry\r\n".utf8))
            return
        }
        server.metrics.forwarded.increment()
        let t: ForwardTarget
        if let existing = targets[node], existing.isUsable { t = existing } else {
            t = ForwardTarget(server: server, node: node, address: address)
            targets[node] = t
        }
        t.send(args, slot: slot, protocolVersion: protocolVersion)
    }
}

final class ForwardTarget {
    unowned let server: Server
    let node: NodeID
    let address: String
    private var conn: Connection?
    private var parser = RESPReplyParser()
    /// What each reply still to come answers, in the order the requests went out.
    private enum Pending {
        /// The connection's `AUTH` (sent first when clients must authenticate).
        case auth
        /// `CS.FORWARDER`: whether the node routes refused requests back (see `ForwardingSession`).
        case hello
        /// `CS.REROUTED chain`.
        case rerouted(ChainID)
        /// A client's request: its reply slot, protocol, the request as sent, how often it was
        /// forwarded, and when it was first refused.
        case request(slot: UInt64, version: Int, args: [[UInt8]], attempts: Int, firstRefusedMs: UInt64?)
    }
    private var waiting: [Pending] = []
    private var waitingHead = 0
    private(set) var pending = 0
    private var failed = false
    /// The node answered `CS.FORWARDER`: it refuses requests behind a refused one, so refused
    /// requests may be routed again (nil until it answers; an older node does not know it).
    private var reroutes: Bool?
    /// Chains whose `CS.REROUTED` is on its way.
    private var reroutedSent: [ChainID] = []

    init(server: Server, node: NodeID, address: String) {
        self.server = server
        self.node = node
        self.address = address
        do {
            let c = try Connection.connect(loop: server.loop, to: SocketAddress(parsing: address), tls: server.config.tls?.forwarding)
            c.onRead = { [unowned self] c in readable(c) }
            c.onClose = { [unowned self] _, end in
                // A connect that failed sent nothing: its requests certainly did not run there.
                var unsent = false
                if case .connectFailed = end { unsent = true }
                fail("connection to \(node) at \(address) ended (\(end))", unsent: unsent)
            }
            conn = c
            // Every node has the same users; forwarded requests run as the internal user, whose
            // password derives from the cluster secret.
            if let users = server.config.users, !users.isOpen, let secret = server.config.cluster?.secret {
                c.write(RESPWriter.command([Array("AUTH".utf8), Array(UserTable.nodeUser.utf8),
                                            Array(UserTable.forwardingPassword(secret: secret).utf8)]))
                waiting.append(.auth)
            }
            c.write(RESPWriter.command([Wrapper.forwarder]))
            waiting.append(.hello)
        } catch {
            failed = true
        }
    }

    var isUsable: Bool { !failed && conn?.isOpen == true }

    func send(_ args: [[UInt8]], slot: UInt64, protocolVersion: Int) {
        // A command routed again carries its earlier tries.
        let earlier = server.rerouting
        let attempts = (earlier?.attempts ?? 0) + 1
        guard isUsable, let conn else {
            // (Only a new target gets here: its connect failed at once, so nothing was sent.)
            let refusal = Array("-TRYAGAIN chainstore: cannot reach node \(node) at \(address)\r\n".utf8)
            if !server.reroute(slot: slot, forwardedArgs: args, refusal: refusal, refusedAt: 0, attempts: attempts,
                               firstRefusedMs: earlier?.firstRefusedMs, unreachable: true) {
                server.fillSlot(slot, bytes: refusal)
            }
            return
        }
        waiting.append(.request(slot: slot, version: protocolVersion, args: args, attempts: attempts, firstRefusedMs: earlier?.firstRefusedMs))
        pending += 1
        conn.write(RESPWriter.command(args))
    }

    private func readable(_ c: Connection) {
        var buf: [UInt8] = []
        c.read(appendingTo: &buf)
        parser.append(contentsOf: buf)
        while waitingHead < waiting.count {
            let v: RESPValue?
            do { v = try parser.next() } catch {
                fail("bad reply from \(node): \(error)")
                c.close()
                return
            }
            guard let v else { break }
            let w = waiting[waitingHead]
            waitingHead += 1
            switch w {
            case .auth:
                if case let .error(e) = v {
                    fail("node \(node) refused this node's forwarding credentials (\(e)): are the cluster secret and users the same on every node?")
                    return
                }
            case .hello:
                if case .error = v { reroutes = false } else { reroutes = true }
            case let .rerouted(chain):
                reroutedSent.removeAll { $0 == chain }
            case let .request(slot, version, args, attempts, firstRefusedMs):
                pending -= 1
                deliver(v, slot: slot, version: version, args: args, attempts: attempts, firstRefusedMs: firstRefusedMs)
            }
        }
        if waitingHead > 1024 && waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
    }

    /// Passes a reply on to its client, or has the request routed again when the node refused
    /// it unexecuted.
    private func deliver(_ v: RESPValue, slot: UInt64, version: Int, args: [[UInt8]], attempts: Int, firstRefusedMs: UInt64?) {
        var out = RESPWriter(version: version)
        out.value(v)
        if reroutes == true, case let .error(e) = v, let refused = ForwardRefusal.parse(e) {
            // The node refuses this connection's later requests for the chain until it reads
            // this: everything sent before it comes back refused, and is routed again in order.
            if !reroutedSent.contains(refused.chain), let conn {
                conn.write(RESPWriter.command([Wrapper.rerouted, Array(String(refused.chain).utf8)]))
                waiting.append(.rerouted(refused.chain))
                reroutedSent.append(refused.chain)
            }
            if server.reroute(slot: slot, forwardedArgs: args, refusal: out.bytes, refusedAt: refused.epoch, attempts: attempts,
                                     firstRefusedMs: firstRefusedMs) {
                return
            }
        }
        server.fillSlot(slot, bytes: out.bytes)
    }

    /// Ends the connection; its requests still waiting are refused — or, when the connection
    /// was never made (`unsent`), routed again (they certainly did not run).
    func fail(_ reason: String, unsent: Bool = false) {
        guard !failed || waitingHead < waiting.count else { return }
        failed = true
        for case let .request(slot, _, args, attempts, firstRefusedMs) in waiting[waitingHead...] {
            let refusal = Array("-TRYAGAIN chainstore: forwarding failed: \(reason)\r\n".utf8)
            if unsent, server.reroute(slot: slot, forwardedArgs: args, refusal: refusal, refusedAt: 0, attempts: attempts,
                                      firstRefusedMs: firstRefusedMs, unreachable: true) { continue }
            server.fillSlot(slot, bytes: refusal)
        }
        waiting.removeAll()
        waitingHead = 0
        pending = 0
        conn?.close()
    }
}
