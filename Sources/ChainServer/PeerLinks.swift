import ChainCore
import ChainSecurity
import ChainWire
import EventLoop

/// The node's authenticated connections to other nodes: one per node pair, carrying every chain
/// in both directions. The node with the smaller id dials; both sides prove knowledge of the
/// cluster secret over fresh nonces before any other frame is accepted. Frames for a peer whose
/// link is not up wait, encoded, in a bounded queue (when it overflows the oldest are dropped:
/// the chain protocol resends whatever is unacknowledged when the link comes up).
final class PeerLinks {
    /// Strong, as `ChainNode.server` (an `unowned` reference costs a checked retain per frame);
    /// the node and its links live as long as the process.
    let node: ChainNode
    let loop: EventLoop
    let me: NodeID
    private let secret: [UInt8]
    /// What this node announces it reads (`PeerHandshake.Features`; tests announce less to play
    /// a node of an earlier release).
    let features: PeerHandshake.Features
    private var listener: TCPListener?
    private var ready: [NodeID: PeerLink] = [:]
    private var queued: [NodeID: QueuedFrames] = [:]
    private var dialing: Set<NodeID> = []
    private var wanted: Set<NodeID> = []
    private var addresses: [NodeID: String] = [:]
    /// At most this many bytes of frames wait for a peer whose link is not up.
    static let maxQueuedBytes = 64 << 20
    static let handshakeTimeoutMs = 5000

    /// Mutual TLS on every link, when configured.
    private let tls: (server: TLSContext, client: TLSContext)?

    init(node: ChainNode, loop: EventLoop, me: NodeID, secret: [UInt8], tls: (server: TLSContext, client: TLSContext)? = nil,
         features: PeerHandshake.Features = .all) {
        self.node = node
        self.features = features
        self.tls = tls
        self.loop = loop
        self.me = me
        self.secret = secret
    }

    /// How long a peer link may go without its data being acknowledged before it counts as
    /// broken: one lease (a node cut off from a neighbour for longer reports it to the master).
    private var livenessMs: Int { Int(node.leaseMs) }

    func listen(on address: SocketAddress) throws(EventLoopError) {
        listener = try TCPListener(loop: loop, address: address, tls: tls?.server) { [unowned self] conn in
            conn.failUnacknowledged(afterMs: livenessMs)
            let link = PeerLink(conn: conn, links: self, dialedPeer: nil)
            link.start()
        }
    }

    var listenAddress: SocketAddress? { listener?.address }
    var connectedPeers: [NodeID] { ready.keys.sorted() }
    func isReady(_ peer: NodeID) -> Bool { ready[peer] != nil }
    /// Bytes queued on the link to `peer` (for flow control of state transfer).
    func queuedBytes(to peer: NodeID) -> Int { ready[peer]?.conn.outputBytes ?? Int.max }

    /// Learns which peers this node exchanges frames with (its neighbours in any chain) and
    /// dials the ones it is responsible for.
    func configure(_ config: Configuration, previous: Configuration?) {
        addresses = Dictionary(uniqueKeysWithValues: config.nodes.map { ($0.id, $0.peer) })
        var w: Set<NodeID> = []
        for c in config.chains {
            if c.members.contains(me) {
                if let s = c.successor(of: me) { w.insert(s) }
                if let p = c.predecessor(of: me) { w.insert(p) }
                if let j = c.joining, c.tail == me { w.insert(j) }
            } else if c.joining == me, let t = c.tail {
                w.insert(t)
            }
        }
        // A peer whose address changed must be redialed.
        if let previous {
            for n in config.nodes where previous.node(n.id)?.peer != n.peer { ready[n.id]?.close(reason: "address changed") }
        }
        wanted = w
        for p in wanted where me < p { dialIfNeeded(p) }
    }

    func send(_ frames: [PeerFrame], to peer: NodeID) {
        send(to: peer) { w, _ in for f in frames { f.encode(into: &w) } }
    }

    /// Sends the frames `encode` writes, in one write (queued if the link is not up). `encode`
    /// is told whether the peer reads `turn` frames (never for frames queued for a link that is
    /// not up: the peer at its other end is not known yet).
    func send(to peer: NodeID, encoding encode: (inout ByteWriter, _ turnFrames: Bool) -> Void) {
        if let link = ready[peer] {
            link.send(encoding: encode)
            return
        }
        var w = ByteWriter(capacity: 256)
        encode(&w, false)
        guard !w.bytes.isEmpty else { return }
        queued[peer, default: QueuedFrames()].append(w.bytes, limit: Self.maxQueuedBytes)
        if me < peer { dialIfNeeded(peer) }
    }

    private func dialIfNeeded(_ peer: NodeID) {
        guard ready[peer] == nil, !dialing.contains(peer), let text = addresses[peer],
              let addr = try? SocketAddress(parsing: text) else { return }
        dialing.insert(peer)
        do {
            let conn = try Connection.connect(loop: loop, to: addr, tls: tls?.client)
            conn.failUnacknowledged(afterMs: livenessMs)
            PeerLink(conn: conn, links: self, dialedPeer: peer).start()
        } catch {
            dialing.remove(peer)
            retryLater(peer)
        }
    }

    private func retryLater(_ peer: NodeID) {
        Timer(loop: loop, afterMs: 200) { [unowned self] in
            if wanted.contains(peer) || queued[peer] != nil { dialIfNeeded(peer) }
        }
    }

    // MARK: callbacks from links

    func authenticated(_ link: PeerLink, peer: NodeID) {
        dialing.remove(peer)
        if let old = ready[peer], old !== link { old.close(reason: "replaced by a newer connection") }
        ready[peer] = link
        node.server.metrics.peerLinksUp.increment()
        node.server.logger.info("peer link up", metadata: ["peer": "\(peer)"])
        if let q = queued.removeValue(forKey: peer) { link.send(encoded: q.chunks) }
        node.linkUp(peer)
    }

    func closed(_ link: PeerLink, peer: NodeID?, dialed: NodeID?) {
        if let d = dialed { dialing.remove(d) }
        if let p = peer, ready[p] === link {
            ready.removeValue(forKey: p)
            node.server.logger.notice("peer link down", metadata: ["peer": "\(p)"])
            node.linkDown(p)
        }
        if let p = peer ?? dialed, me < p, wanted.contains(p) || queued[p] != nil { retryLater(p) }
    }

    func received(_ frame: PeerFrame, from peer: NodeID) { node.receive(frame, from: peer) }

    func authFailed(_ reason: String) {
        node.server.metrics.peerAuthFailures.increment()
        node.server.logger.warning("peer refused: \(reason)")
    }

    // MARK: handshake values

    var secretBytes: [UInt8] { secret }
}

/// One peer connection and its handshake state.
final class PeerLink {
    enum State {
        /// Listening side, waiting for the dialer's hello.
        case awaitingHello
        /// Dialing side, hello sent with `nonce`, waiting for the challenge.
        case awaitingChallenge(nonce: [UInt8])
        /// Listening side, challenge sent, waiting for the dialer's proof.
        case awaitingAuth(peer: NodeID, clientNonce: [UInt8], serverNonce: [UInt8])
        /// Authenticated: frames flow.
        case ready(peer: NodeID)
        case closed
    }

    let conn: Connection
    /// Strong: a link that closed is dropped by `links` (`closed`), which ends the cycle.
    let links: PeerLinks
    let dialedPeer: NodeID?
    private var state: State
    private var decoder = PeerFrameDecoder()
    /// What the peer announced in its handshake nonce (`PeerHandshake.Features`).
    private(set) var peerFeatures: PeerHandshake.Features = []
    /// The turn's frames are encoded here, kept between turns: a fresh writer grew through four
    /// or five sizes to a turn's few kilobytes, each a copy (callgrind: ~100 instructions a write).
    private var output = ByteWriter(capacity: 4096)

    init(conn: Connection, links: PeerLinks, dialedPeer: NodeID?) {
        self.conn = conn
        self.links = links
        self.dialedPeer = dialedPeer
        self.state = dialedPeer == nil ? .awaitingHello : .awaitingChallenge(nonce: PeerHandshake.nonce(features: links.features))
    }

    func start() {
        conn.context = self
        conn.onConnected = { [unowned self] _ in
            if case let .awaitingChallenge(nonce) = state { write(.hello(node: links.me, nonce: nonce)) }
        }
        conn.onRead = { [unowned self] _ in readable() }
        conn.onClose = { [unowned self] _, _ in
            let peer: NodeID? = if case let .ready(p) = state { p } else { nil }
            state = .closed
            links.closed(self, peer: peer, dialed: dialedPeer)
        }
        Timer(loop: conn.loop, afterMs: PeerLinks.handshakeTimeoutMs) { [weak self] in
            guard let self else { return }
            switch state {
            case .ready, .closed: break
            default: fail("handshake timed out")
            }
        }
    }

    /// Sends the frames `encode` writes in one write (authenticated links only).
    func send(encoding encode: (inout ByteWriter, _ turnFrames: Bool) -> Void) {
        guard case .ready = state else { return }
        encode(&output, peerFeatures.contains(.turnFrames))
        guard !output.bytes.isEmpty else { return }
        conn.write(output.bytes)
        // The connection has sent or copied them (once a turn). A writer grown past 1 MiB by a
        // catch-up is let go.
        if output.bytes.capacity > 1 << 20 {
            output = ByteWriter(capacity: 4096)
        } else {
            output.bytes.removeAll(keepingCapacity: true)
        }
    }

    /// Sends frames encoded earlier (queued while the link was down), in order.
    func send(encoded chunks: [[UInt8]]) {
        guard case .ready = state else { return }
        for c in chunks { conn.write(c) }
    }

    func close(reason: String) {
        conn.close()
    }

    private func write(_ frame: PeerFrame) {
        var w = ByteWriter(capacity: 256)
        frame.encode(into: &w)
        conn.write(w.bytes)
    }

    private func fail(_ reason: String) {
        links.authFailed(reason)
        write(.error(reason))
        state = .closed
        conn.closeAfterFlush()
    }

    private func readable() {
        _ = decoder.withAppendBuffer { conn.read(appendingTo: &$0) }
        while true {
            var next: PeerFrame?
            do { next = try decoder.next() } catch {
                fail("bad frame: \(error)")
                return
            }
            // Moved out, so the frame handed back below is its lists' only holder.
            guard let frame = next.take() else { return }
            // Authenticated links carry every chain frame: handed on without the handshake's
            // switch over (state, frame), whose tuple copied the frame twice (callgrind: about
            // 850 instructions a frame with its destruction).
            if case let .ready(peer) = state {
                if case let .error(msg) = frame {
                    links.node.server.logger.warning("peer \(peer) reported: \(msg)")
                } else {
                    links.received(frame, from: peer)
                    decoder.recycle(consume frame)
                }
            } else {
                handshake(frame)
            }
            if case .closed = state { return }
        }
    }

    private func handshake(_ frame: PeerFrame) {
        let secret = links.secretBytes
        switch (state, frame) {
        case let (.awaitingHello, .hello(peer, clientNonce)):
            guard MasterState.isValidID(peer), clientNonce.count == 32 else { fail("malformed hello"); return }
            peerFeatures = PeerHandshake.features(ofNonce: clientNonce)
            let serverNonce = PeerHandshake.nonce(features: links.features)
            let proof = PeerHandshake.serverProof(secret: secret, clientNonce: clientNonce, serverNonce: serverNonce, server: links.me)
            state = .awaitingAuth(peer: peer, clientNonce: clientNonce, serverNonce: serverNonce)
            write(.challenge(node: links.me, nonce: serverNonce, proof: proof))
        case let (.awaitingChallenge(clientNonce), .challenge(peer, serverNonce, proof)):
            let expected = PeerHandshake.serverProof(secret: secret, clientNonce: clientNonce, serverNonce: serverNonce, server: peer)
            guard peer == dialedPeer, serverNonce.count == 32, Secrets.constantTimeEqual(proof, expected) else {
                fail("peer \(peer) failed to prove the cluster secret")
                return
            }
            peerFeatures = PeerHandshake.features(ofNonce: serverNonce)
            write(.auth(proof: PeerHandshake.clientProof(secret: secret, clientNonce: clientNonce, serverNonce: serverNonce, client: links.me)))
            state = .ready(peer: peer)
            links.authenticated(self, peer: peer)
        case let (.awaitingAuth(peer, clientNonce, serverNonce), .auth(proof)):
            let expected = PeerHandshake.clientProof(secret: secret, clientNonce: clientNonce, serverNonce: serverNonce, client: peer)
            guard Secrets.constantTimeEqual(proof, expected) else {
                fail("node \(peer) failed to prove the cluster secret")
                return
            }
            state = .ready(peer: peer)
            links.authenticated(self, peer: peer)
        case (.ready, _), (.closed, _):
            return  // handled in `readable`; nothing is read once closed
        case (_, .error(let msg)):
            links.authFailed("peer refused the connection: \(msg)")
            state = .closed
            conn.close()
        default:
            fail("unexpected frame before authentication")
        }
    }
}

/// Encoded frames waiting for a peer's link, oldest first, at most a byte limit of them (the
/// oldest whole chunks dropped beyond it; one chunk is one send's frames).
struct QueuedFrames {
    private(set) var chunks: [[UInt8]] = []
    private(set) var bytes = 0

    mutating func append(_ chunk: [UInt8], limit: Int) {
        chunks.append(chunk)
        bytes += chunk.count
        var drop = 0
        while bytes > limit && drop < chunks.count - 1 {
            bytes -= chunks[drop].count
            drop += 1
        }
        if drop > 0 { chunks.removeFirst(drop) }
    }
}
