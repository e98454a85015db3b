import ChainCore
import EventLoop
import RESP

/// A client command this node forwarded that the other node refused without running it
/// (`ForwardRefusal`): its connection runs it again, in order, once this node's configuration
/// routes it (`NodeCore.reroute` decides when, and when to give up).
struct ReroutedCommand {
    /// Where its reply goes in the connection's held replies.
    var slot: UInt64
    /// The command as the client sent it.
    var command: RESPCommand
    /// The refusal, passed on to the client if the command finds no place in time.
    var refusal: [UInt8]
    var refusedAt: Epoch
    /// How often it was forwarded so far.
    var attempts: Int
    /// When its first and its latest refusals came back (monotonic ms).
    var firstRefusedMs: UInt64
    var lastRefusedMs: UInt64
    /// It never reached the node it was for (that node refused the connection).
    var unreachable = false
    /// Its number in its session (`ClientSession.runningCommand`), given when it is queued.
    var number: UInt64 = 0
}

extension Server {
    /// A forwarded request came back refused unexecuted (`refusedAt`: the refusing node's
    /// epoch), or never left (`unreachable`: its node refused the connection; `refusedAt` is then
    /// ignored). Returns whether its session takes it to route again; otherwise the caller fills
    /// the slot with the refusal.
    func reroute(slot: UInt64, forwardedArgs args: [[UInt8]], refusal: [UInt8], refusedAt: Epoch,
                 attempts: Int, firstRefusedMs: UInt64?, unreachable: Bool = false) -> Bool {
        guard let node = chainNode, args.count > 1, Wrapper.matches(args[0], Wrapper.forward) else { return false }
        let now = monotonicMillis()
        let first = firstRefusedMs ?? now
        // An unreachable node's requests wait for a configuration newer than this node's.
        let epoch = unreachable ? node.epoch + 1 : refusedAt
        guard node.core.reroute(refusedAt: epoch, attempts: attempts, firstRefusedMs: first, lastRefusedMs: now, now: now,
                                unreachable: unreachable) != .giveUp,
              let session = takeForwardedSlot(slot) else { return false }
        session.reroute(ReroutedCommand(slot: slot, command: RESPCommand(args: Array(args.dropFirst())), refusal: refusal,
                                        refusedAt: epoch, attempts: attempts, firstRefusedMs: first, lastRefusedMs: now,
                                        unreachable: unreachable))
        if !reroutingSessions.contains(where: { $0 === session }) { reroutingSessions.append(session) }
        return true
    }

    /// Asks every session with commands to route again (a configuration arrived, or time passed).
    func wakeReroutes() {
        guard !reroutingSessions.isEmpty else { return }
        reroutingSessions.removeAll { !$0.isRerouting }
        for s in reroutingSessions { markResumable(s) }
    }
}
