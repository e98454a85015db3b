/// A node's replicas by chain: a dictionary whose lookups by chain skip hashing.
///
/// The write path looks a replica up several times per update and node (routing, applying,
/// acknowledging, persisting); hashing the chain number for each cost about 150 instructions a
/// time. Chain numbers are small and dense, so the table keeps, per chain number, the
/// dictionary index of its replica, rebuilt whenever a replica is added or removed (a
/// configuration change). Replicas are reached in place through `values[index]`, as with a
/// dictionary: the keyed subscript copies a replica out and back (see `NodeCore.replicas`).
public struct ReplicaTable: Sendable {
    public typealias Index = Dictionary<ChainID, ChainReplica>.Index
    private var storage: [ChainID: ChainReplica] = [:]
    /// `storage`'s index of each chain's replica, by chain number. Dictionary indices stay valid
    /// until a key is added or removed (and across copies), which is when this is rebuilt.
    private var slots: [Index?] = []

    public init() {}

    public func index(forKey chain: ChainID) -> Index? {
        chain >= 0 && chain < slots.count ? slots[chain] : nil
    }

    public var values: Dictionary<ChainID, ChainReplica>.Values {
        get { storage.values }
        _modify { yield &storage.values }
    }

    public var keys: Dictionary<ChainID, ChainReplica>.Keys { storage.keys }
    public var isEmpty: Bool { storage.isEmpty }
    public var count: Int { storage.count }

    public subscript(chain: ChainID) -> ChainReplica? {
        get { index(forKey: chain).map { storage.values[$0] } }
        set {
            if let newValue, let i = index(forKey: chain) {
                storage.values[i] = newValue
            } else {
                storage[chain] = newValue
                reindex()
            }
        }
    }

    @discardableResult
    public mutating func removeValue(forKey chain: ChainID) -> ChainReplica? {
        guard let removed = storage.removeValue(forKey: chain) else { return nil }
        reindex()
        return removed
    }

    private mutating func reindex() {
        slots = Array(repeating: nil, count: (storage.keys.max() ?? -1) + 1)
        for i in storage.indices { slots[storage[i].key] = i }
    }
}
