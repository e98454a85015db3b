import ChainCore

extension PeerFrame {
    /// Lists of decoded frames that their reader is done with, emptied and kept for the next
    /// frames: a turn frame's list of sections and each section's list of updates were two to
    /// three allocations a frame, about 0.6 a write per node at 12 chains (callgrind).
    struct SpareLists {
        private var sections: [TurnSection] = []
        private var updates: [[Update]] = []
        /// At most this many update lists kept (a turn frame has one per chain it carries).
        private static let maxUpdateLists = 64
        /// Lists grown beyond this (a long catch-up) are let go rather than held on to.
        private static let maxKeptCapacity = 4096

        /// An empty section list, with the capacity of the last one handed back.
        mutating func takeSections() -> [TurnSection] {
            var list: [TurnSection] = []
            swap(&list, &sections)
            return list
        }

        /// An empty update list, with the capacity of one handed back if there is one.
        mutating func takeUpdates() -> [Update] { updates.popLast() ?? [] }

        /// Takes `frame`'s lists back. A list still referenced elsewhere (a frame held for a
        /// later epoch) is not shared: emptying it makes a new buffer, as decoding would.
        mutating func keep(_ frame: consuming PeerFrame) {
            // Each list is copied out of its holder and the holder then overwritten, which
            // leaves the copy the only reference (a list bound by a pattern is shared with the
            // value matched for as long as that lives, and emptying a shared list makes a new
            // one).
            var held = consume frame
            if var list = Self.sections(of: held) {
                held = Self.emptied
                while var section = list.popLast() {
                    if var us = Self.updates(of: section) {
                        section = .ack(chain: 0, seq: 0)
                        keep(&us)
                    }
                }
                if list.capacity <= Self.maxKeptCapacity { sections = list }
            } else if case .updates = held, var us = Self.updates(of: held) {
                held = Self.emptied
                keep(&us)
            }
        }

        /// What replaces a frame whose lists were taken.
        private static let emptied = PeerFrame.barrier(epoch: 0, chain: 0, seq: 0)

        private static func sections(of frame: PeerFrame) -> [TurnSection]? {
            if case let .turn(_, list) = frame { return list }
            return nil
        }

        private static func updates(of frame: PeerFrame) -> [Update]? {
            if case let .updates(_, _, list) = frame { return list }
            return nil
        }

        private static func updates(of section: TurnSection) -> [Update]? {
            if case let .updates(_, list) = section { return list }
            return nil
        }

        private mutating func keep(_ list: inout [Update]) {
            guard updates.count < Self.maxUpdateLists, list.capacity <= Self.maxKeptCapacity else { return }
            list.removeAll(keepingCapacity: true)
            updates.append(list)
        }
    }
}
