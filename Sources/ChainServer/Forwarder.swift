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
    private var waiting: [(slot: UInt64, version: Int)] = []
    private var waitingHead = 0
    private var failed = false
    /// The reply to this connection's AUTH (sent first when clients must authenticate) has not
    /// arrived yet.
    private var authPending = false

    init(server: Server, node: NodeID, address: String) {
        self.server = server
        self.node = node
        self.address = address
        do {
            let c = try Connection.connect(loop: server.loop, to: SocketAddress(parsing: address), tls: server.config.tls?.forwarding)
            c.onRead = { [unowned self] c in readable(c) }
            c.onClose = { [unowned self] _, end in fail("connection to \(node) at \(address) ended (\(end))") }
            conn = c
            // Every node has the same users; forwarded requests run as the internal user, whose
            // password derives from the cluster secret.
            if let users = server.config.users, !users.isOpen, let secret = server.config.cluster?.secret {
                c.write(RESPWriter.command([Array("AUTH".utf8), Array(UserTable.nodeUser.utf8),
                                            Array(UserTable.forwardingPassword(secret: secret).utf8)]))
                authPending = true
            }
        } catch {
            failed = true
        }
    }

    var isUsable: Bool { !failed && conn?.isOpen == true }
    var pending: Int { waiting.count - waitingHead }

    func send(_ args: [[UInt8]], slot: UInt64, protocolVersion: Int) {
        guard isUsable, let conn else {
            server.fillSlot(slot, bytes: Array("-TRYAGAIN chainstore: cannot reach node \(node) at \(address)\r\n".utf8))
            return
        }
        waiting.append((slot, protocolVersion))
        conn.write(RESPWriter.command(args))
    }

    private func readable(_ c: Connection) {
        var buf: [UInt8] = []
        c.read(appendingTo: &buf)
        parser.append(contentsOf: buf)
        if authPending {
            let v: RESPValue?
            do { v = try parser.next() } catch {
                fail("bad reply from \(node): \(error)")
                return
            }
            guard let v else { return }
            if case let .error(e) = v {
                fail("node \(node) refused this node's forwarding credentials (\(e)): are the cluster secret and users the same on every node?")
                return
            }
            authPending = false
        }
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
            var out = RESPWriter(version: w.version)
            out.value(v)
            server.fillSlot(w.slot, bytes: out.bytes)
        }
        if waitingHead > 1024 && waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
    }

    func fail(_ reason: String) {
        guard !failed || waitingHead < waiting.count else { return }
        failed = true
        for w in waiting[waitingHead...] {
            server.fillSlot(w.slot, bytes: Array("-TRYAGAIN chainstore: forwarding failed: \(reason)\r\n".utf8))
        }
        waiting.removeAll()
        waitingHead = 0
        conn?.close()
    }
}
