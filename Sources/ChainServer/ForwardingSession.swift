import ChainCore
import RESP

/// What a node keeps for a connection on which another node forwards it requests and routes
/// refused ones again (the other node said `CS.FORWARDER` first).
///
/// The forwarding node sends one connection's requests for a chain here in order, and routes a
/// refused one again in that order. That is only safe if a request behind a refused one does
/// not run here meanwhile: a chain that freezes and reopens between the two would let the
/// second write overtake the first. So once a request for a chain is refused, every later one
/// for that chain on this connection is refused too (`ForwardRefusal.refusedBefore`), until the
/// forwarding node says `CS.REROUTED chain` — which it sends as soon as it reads the first
/// refusal, so everything it sent before that is refused and routed again, in order.
struct ForwardingSession {
    /// A few at most: the chains whose configuration changed under this connection's requests.
    private var refused: [ChainID] = []

    func mustRefuse(_ chain: ChainID) -> Bool { !refused.isEmpty && refused.contains(chain) }

    mutating func refusedRequest(for chain: ChainID) {
        if !refused.contains(chain) { refused.append(chain) }
    }

    mutating func rerouted(_ chain: ChainID) { refused.removeAll { $0 == chain } }
}

extension Wrapper {
    /// `CS.FORWARDER`: this connection forwards requests and routes refused ones again.
    static let forwarder = Array("cs.forwarder".utf8)
    /// `CS.REROUTED chain`: the forwarding node has seen a refusal for `chain`; its later
    /// requests for it are new.
    static let rerouted = Array("cs.rerouted".utf8)
}

extension Server {
    /// `CS.FORWARDER` and `CS.REROUTED chain`, or nil when `args` is neither.
    func forwardingCommand(_ args: [[UInt8]], session: ClientSession, into out: inout RESPWriter) -> CommandOutcome? {
        if Wrapper.matches(args[0], Wrapper.forwarder) {
            session.forwarding = ForwardingSession()
            out.ok()
            return .answered
        }
        guard Wrapper.matches(args[0], Wrapper.rerouted) else { return nil }
        guard args.count == 2, let chain = Wrapper.id(args[1]) else {
            out.error("ERR CS.REROUTED needs a chain number (sent by nodes that forward requests)")
            return .answered
        }
        session.forwarding?.rerouted(ChainID(truncatingIfNeeded: chain))
        out.ok()
        return .answered
    }
}
