import Foundation
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// A RESP-aware TCP proxy in front of one node's client port that plays a node whose
/// configuration changed under forwarded requests: it refuses forwarded requests (`CS.FWD …`)
/// naming a chosen key, as a node does that no longer serves their chain, and, like such a node
/// (`ForwardingSession`), every later one naming it on the same connection until the
/// forwarding node says `CS.REROUTED`. Everything else passes through; replies keep request
/// order. It logs every request it sees, as text, for the test to check the order.
final class RefusingProxy: @unchecked Sendable {
    struct Plan {
        /// Forwarded requests naming this key are refused, with this text.
        var key: String
        var refusal: String
        /// How many first-time refusals are left (each starts a run of refusals on its
        /// connection, until `CS.REROUTED`).
        var times: Int
    }

    let port: UInt16
    private let target: UInt16
    private let listener: Int32
    private let state = Locked((plan: Plan?.none, log: [String](), sockets: Set<Int32>()))

    init(to target: UInt16) throws {
        self.target = target
        (listener, port) = try LoopbackSocket.listen()
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    var address: String { "127.0.0.1:\(port)" }

    func arm(_ plan: Plan) { state.mutate { $0.plan = plan; $0.log = [] } }

    /// The requests seen since `arm`, as "REFUSED cmd args…" or "cmd args…".
    var log: [String] { state.value.log }

    func stop() {
        state.mutate { s in for fd in s.sockets { shutdown(fd, Int32(SHUT_RDWR)) } }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            guard let upstream = LoopbackSocket.connect(to: target) else { close(client); continue }
            state.mutate { $0.sockets.formUnion([client, upstream]) }
            let link = Link(client: client)
            Thread.detachNewThread { [self] in requests(link, upstream) }
            Thread.detachNewThread { [self] in replies(link, upstream) }
        }
    }

    /// One proxied connection: what each reply still to come is (one of the node's, or a
    /// refusal the proxy made), and the chains it refuses until `CS.REROUTED`.
    private final class Link: @unchecked Sendable {
        let client: Int32
        let order = Locked((pending: [[UInt8]?](), refusing: false))
        init(client: Int32) { self.client = client }

        /// Sends the refusals queued at the front (nil entries are the node's replies).
        func flushRefusals(_ p: inout (pending: [[UInt8]?], refusing: Bool)) {
            while let first = p.pending.first, let bytes = first {
                LoopbackSocket.sendAll(client, bytes)
                p.pending.removeFirst()
            }
        }
    }

    private func requests(_ link: Link, _ upstream: Int32) {
        var parser = RESPCommandParser()
        var buf = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buf.withUnsafeMutableBytes { read(link.client, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            parser.append(contentsOf: buf[0..<n])
            while true {
                guard let cmd = try? parser.next() else { break }
                let text = cmd.args.map { String(decoding: $0, as: UTF8.self) }
                var refusal: [UInt8]?
                state.mutate { s in
                    guard var plan = s.plan else { return s.log.append(text.joined(separator: " ")) }
                    let forwarded = text.first?.lowercased() == "cs.fwd" && text.contains(plan.key)
                    link.order.mutate { o in
                        if text.first?.lowercased() == "cs.rerouted" { o.refusing = false }
                        if forwarded && (o.refusing || plan.times > 0) {
                            if !o.refusing { plan.times -= 1 }
                            o.refusing = true
                            refusal = Array("-\(plan.refusal)\r\n".utf8)
                        }
                    }
                    s.plan = plan
                    s.log.append((refusal != nil ? "REFUSED " : "") + text.joined(separator: " "))
                }
                link.order.mutate { o in
                    if let refusal {
                        if o.pending.isEmpty { LoopbackSocket.sendAll(link.client, refusal) } else { o.pending.append(refusal) }
                    } else {
                        o.pending.append(nil)
                        LoopbackSocket.sendAll(upstream, RESPWriter.command(cmd.args))
                    }
                }
            }
        }
        shutdown(upstream, Int32(SHUT_RDWR))
        shutdown(link.client, Int32(SHUT_RDWR))
    }

    private func replies(_ link: Link, _ upstream: Int32) {
        var parser = RESPReplyParser()
        var buf = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buf.withUnsafeMutableBytes { read(upstream, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            parser.append(contentsOf: buf[0..<n])
            while let v = try? parser.next() {
                var w = RESPWriter()
                w.value(v)
                link.order.mutate { o in
                    link.flushRefusals(&o)
                    if !o.pending.isEmpty { o.pending.removeFirst() }
                    LoopbackSocket.sendAll(link.client, w.bytes)
                    link.flushRefusals(&o)
                }
            }
        }
        shutdown(upstream, Int32(SHUT_RDWR))
        shutdown(link.client, Int32(SHUT_RDWR))
        state.mutate { $0.sockets.subtract([link.client, upstream]) }
    }

}
