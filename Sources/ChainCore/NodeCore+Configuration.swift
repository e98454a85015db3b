/// A new configuration from the master: what this node's chains become.
extension NodeCore {
    /// Installs `new` if it is newer. `now`: the shell's monotonic ms (for a promoted tail's
    /// barrier deadline).
    public mutating func install(_ new: Configuration, now: UInt64, _ effects: inout Effects) {
        guard new.epoch > epoch else { return }
        let old = config
        config = new
        effects.append(.log("configuration installed", ["epoch": "\(new.epoch)", "chains": "\(new.chains.count)"]))
        for c in new.chains {
            let member = c.members.contains(me)
            if replicas[c.id] != nil && !member && c.joining == me && joins[c.id]?.tail != c.tail {
                // This node left the chain and joins it again (perhaps having missed the epochs
                // in between), or the tail it copied from left: start over from the current tail
                // (below), offering the copy it holds — the tail decides whether sending what it
                // lacks is enough (`CatchUp`).
                perform(c.id, replicas[c.id]!.onConfiguration(epoch: new.epoch, members: c.members, joiner: c.joining), &effects)
                leave(c.id, keep: true, &effects)
            }
            if let before = replicas[c.id] {
                let wasTail = before.isTail
                let stepDownSeq = before.reported
                // Becoming the tail while the old one may still serve (a promoted joiner always:
                // masters before `stepsDown` did not say): until it has certainly stopped
                // (`Barrier`), this node serves no read, and acknowledges nothing past what it
                // had acknowledged as the old tail's predecessor — a client told of a write the
                // old tail's readers cannot see yet would see time run backwards. (The old tail
                // may be out of the chain by now, or leave it before it learns: writes then no
                // longer pass it.)
                let waitFor = !wasTail && c.tail == me ? c.stepsDown ?? (before.role == .joining ? before.members.last : nil) : nil
                if let old = waitFor, old != me {
                    replicas[c.id]!.capCommits(at: before.reported)
                    barriers[c.id] = Barrier(oldTail: old, seq: nil, deadline: now + leaseMs)
                }
                perform(c.id, replicas[c.id]!.onConfiguration(epoch: new.epoch, members: c.members, joiner: c.joining), resending: true, &effects)
                let r = replicas[c.id]!
                if wasTail && !r.isTail, let newTail = c.tail {
                    // Stepped down (this node has installed the epoch): tell the new tail how far
                    // this node had committed, so it may start serving — unless this node was
                    // itself still waiting for the tail before it.
                    let relay = Relay(to: newTail, epoch: new.epoch, seq: stepDownSeq)
                    if barriers[c.id] != nil {
                        barriers[c.id]!.relay = relay
                    } else {
                        effects.append(.send(to: newTail, .barrier(epoch: relay.epoch, chain: c.id, seq: relay.seq)))
                    }
                }
            } else if member {
                dormant.remove(c.id)
                replicas[c.id] = ChainReplica(chain: c.id, me: me, epoch: new.epoch, members: c.members, joiner: c.joining,
                                              applied: position(c.id).seq)
                if replicas[c.id]!.isTail, let old = c.stepsDown, old != me {
                    barriers[c.id] = Barrier(oldTail: old, seq: nil, deadline: now + leaseMs)
                }
            } else if c.joining == me, let tail = c.tail, joins[c.id]?.tail != tail {
                // New join, or the tail changed under a join in progress: (re)start from the tail.
                startJoin(chain: c.id, tail: tail, epoch: new.epoch, &effects)
            }
            if streams[c.id] != nil && (c.joining == nil || c.tail != me) {
                streams.removeValue(forKey: c.id)
                effects.append(.cancelStream(c.id))
            }
        }
        // Chains this node left: answer its waiting clients (they retry elsewhere) and forget
        // them; keep their data while they lack members (this node may be asked back).
        for id in replicas.keys.sorted() {
            let c = new.chains.first { $0.id == id }
            guard !(c?.members.contains(me) ?? false) && c?.joining != me else { continue }
            perform(id, replicas[id]!.onConfiguration(epoch: new.epoch, members: c?.members ?? [], joiner: c?.joining), &effects)
            leave(id, keep: (c?.members.count ?? 0) < new.replication, &effects)
        }
        for id in joins.keys.sorted() where new.chains.first(where: { $0.id == id })?.joining != me {
            let j = joins.removeValue(forKey: id)!
            if replicas[id] == nil {
                if j.wiped { dropData(id, &effects) } else { dormant.insert(id) }
            }
        }
        if old == nil {
            // First configuration since start: data of chains this node is no longer in is dormant.
            for c in new.chains where !c.members.contains(me) && c.joining != me && position(c.id).seq > 0 { dormant.insert(c.id) }
        }
        for id in dormant.sorted() where !(new.chains.first { $0.id == id }.map { $0.members.count < new.replication && !$0.members.contains(me) } ?? false) {
            // Whole again without this node (or this node is back in it some other way).
            dormant.remove(id)
            if replicas[id] == nil && joins[id] == nil { dropData(id, &effects) }
        }
        effects.append(.storeConfiguration(new))
        let pending = early
        early.removeAll()
        for (from, message) in pending { receive(message, from: from, now: now, &effects) }
    }
}
