import ChainCore
import ChainWire

/// One peer's chain messages of a loop turn, coalesced per chain: the updates to send it and the
/// latest acknowledgement, written at the end of the turn as frames into one buffer. Chains are
/// indexed by number, not hashed (a dictionary keyed by chain hashed it for every update: about
/// 300 instructions a write and node at 12 chains, with the regrowth of tables emptied each turn).
///
/// An update is encoded when it is added, into its chain's buffer, which is kept from turn to
/// turn: the frame is that buffer behind a header. Kept as a list of updates per chain and made
/// into `PeerFrame` values at the end of the turn, each chain's list, the list of frames and
/// each update's extra reference were allocated, retained and destroyed every turn (callgrind:
/// about 1.5k instructions a write at 12 chains).
struct PeerOutbox {
    let peer: NodeID
    /// The chains with something to send this turn, in the order first touched.
    private var chains: [ChainID] = []
    private var sections = ChainIndexed<Section>()
    private var acks = ChainIndexed<UInt64>()
    /// Whether a chain is in `chains` (a flag: reading a section to tell copied its buffer).
    private var touched = ChainIndexed<Bool>()

    /// A chain's updates of the turn, encoded (the body of its `updates` frame).
    private struct Section {
        var body = ByteWriter(capacity: 1024)
        var count = 0
    }

    /// A chain's buffer grown past this by a large batch (a resend, a catch-up) is let go after
    /// its frame is written rather than kept for every turn.
    static let keptSectionBytes = 64 << 10

    /// Updates encoded this turn, all chains together.
    private var bodyBytes = 0
    /// A turn with more updates than this goes as per-chain frames even to a peer that reads
    /// turn frames: the receiver refuses any frame over `PeerFrame.maxFrameBytes`, and a turn
    /// frame is the sum of every chain's (a resend to a new successor can be large).
    let maxTurnFrameBytes: Int

    init(peer: NodeID, maxTurnFrameBytes: Int = PeerFrame.maxFrameBytes / 2) {
        self.peer = peer
        self.maxTurnFrameBytes = maxTurnFrameBytes
    }

    var isEmpty: Bool { chains.isEmpty }

    mutating func add(_ update: Update, chain: ChainID) {
        touch(chain)
        bodyBytes += sections.update(chain, orMake: Section()) { s in
            let before = s.body.bytes.count
            PeerFrame.encodeUpdate(update, into: &s.body)
            s.count += 1
            return s.body.bytes.count - before
        }
    }

    mutating func add(contentsOf more: [Update], chain: ChainID) {
        touch(chain)
        bodyBytes += sections.update(chain, orMake: Section()) { s in
            let before = s.body.bytes.count
            for u in more { PeerFrame.encodeUpdate(u, into: &s.body) }
            s.count += more.count
            return s.body.bytes.count - before
        }
    }

    /// Acknowledgements are cumulative: the latest of the turn stands for the others.
    mutating func ack(_ seq: UInt64, chain: ChainID) {
        touch(chain)
        acks[chain] = seq
    }

    /// Writes the turn's messages into `w` (updates, then acknowledgements, chains in the order
    /// touched), leaving the outbox empty: as one `turn` frame when `turnFrames` (the peer reads
    /// them) and the turn is not too large for one, otherwise as an `updates` and an `ack` frame
    /// per chain.
    mutating func encodeFrames(epoch: Epoch, turnFrames: Bool, into w: inout ByteWriter) {
        guard !chains.isEmpty else { return }
        let asOneFrame = turnFrames && bodyBytes <= maxTurnFrameBytes
        bodyBytes = 0
        let start = asOneFrame ? PeerFrame.startTurnFrame(epoch: epoch, into: &w) : 0
        var sectionCount = 0
        for chain in chains {
            sections.update(chain, orMake: Section()) { s in
                guard s.count > 0 else { return }
                if asOneFrame {
                    sectionCount += 1
                    PeerFrame.encodeUpdatesSection(chain: chain, count: s.count, into: &w)
                    w.bytes.append(contentsOf: s.body.bytes)
                } else {
                    PeerFrame.encodeUpdatesFrame(epoch: epoch, chain: chain, count: s.count, body: s.body.bytes, into: &w)
                }
                s.count = 0
                if s.body.bytes.capacity > Self.keptSectionBytes {
                    s.body = ByteWriter(capacity: 1024)
                } else {
                    s.body.bytes.removeAll(keepingCapacity: true)
                }
            }
        }
        for chain in chains {
            touched[chain] = false
            guard let seq = acks.removeValue(forKey: chain) else { continue }
            if asOneFrame {
                sectionCount += 1
                PeerFrame.encodeAckSection(chain: chain, seq: seq, into: &w)
            } else {
                PeerFrame.ack(epoch: epoch, chain: chain, seq: seq).encode(into: &w)
            }
        }
        if asOneFrame { PeerFrame.finishTurnFrame(startingAt: start, sections: sectionCount, in: &w) }
        chains.popAll()
    }

    private mutating func touch(_ chain: ChainID) {
        if touched[chain] != true {
            touched[chain] = true
            chains.append(chain)
        }
    }
}
