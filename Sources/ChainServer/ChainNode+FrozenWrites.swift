import ChainCore
import EventLoop
import RESP

/// Client writes held while their chain is frozen for a reorder (`NodeCore.frozenWrite`
/// decides), by session: each waits in its session (`CommandOutcome.waiting`, so the
/// connection's later commands stay behind it) and is asked again when a configuration
/// arrives and on the node's 100 ms timer.
final class FrozenWriteHolds {
    fileprivate var waiting: [ObjectIdentifier: (session: ClientSession, command: UInt64, sinceMs: UInt64)] = [:]
}

extension ChainNode {
    /// Nil when `chain` takes writes now; otherwise the outcome of the client's write: held
    /// (`.waiting`), or refused with `TRYAGAIN` written to `out`.
    func holdIfFrozen(_ chain: ChainID, session: ClientSession, into out: inout RESPWriter) -> CommandOutcome? {
        // (Asked before every client write: no hashing while nothing is held.)
        let holding = !frozenHolds.waiting.isEmpty
        guard holding || core.writesFrozen(chain) else { return nil }
        let key = ObjectIdentifier(session)
        // (An entry for another command is left from a held write that ended another way.)
        let since = holding ? frozenHolds.waiting[key].flatMap { $0.command == session.runningCommand ? $0.sinceMs : nil } : nil
        let now = monotonicMillis()
        switch core.frozenWrite(chain, waitingSince: since, now: now) {
        case .open:
            if holding { frozenHolds.waiting.removeValue(forKey: key) }
            return nil
        case .wait:
            if since == nil {
                frozenHolds.waiting[key] = (session, session.runningCommand, now)
                server.metrics.writesHeldFrozen.increment()
            }
            return .waiting
        case let .refuse(why):
            frozenHolds.waiting.removeValue(forKey: key)
            server.metrics.error("frozen")
            switch why {
            case .clusterStopped:
                out.error("TRYAGAIN chainstore epoch \(epoch): the cluster is stopped for maintenance; writes resume after chainctl start-cluster")
            case .stillReordering:
                out.error("TRYAGAIN chainstore epoch \(epoch): chain \(chain) pauses writes while its members are reordered; retry")
            }
            return .answered
        }
    }

    /// Asks every held write again (a configuration arrived, or time passed).
    func wakeFrozenWrites() {
        for (key, w) in frozenHolds.waiting {
            if w.session.isClosed { frozenHolds.waiting.removeValue(forKey: key) } else { server.markResumable(w.session) }
        }
    }
}

extension ChainNode {
    /// A client's read waits until this node, its chain's new tail, may serve it
    /// (`NodeCore.Route.wait`): it asks again whenever the core has run (a barrier may have
    /// come) and on the node's 100 ms timer (one may have expired).
    func waitForBarrier(_ session: ClientSession) {
        if !barrierReads.contains(where: { $0 === session }) { barrierReads.append(session) }
    }

    func wakeBarrierReads() {
        let sessions = barrierReads
        barrierReads.removeAll()
        for s in sessions where !s.isClosed { server.markResumable(s) }
    }
}
