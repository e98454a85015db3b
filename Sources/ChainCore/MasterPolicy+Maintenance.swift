/// `chainctl stop-cluster` / `start-cluster`: the master's side of a clean whole-cluster stop
/// (`ClusterStop`). While draining, failures are still handled (a dead member cannot drain);
/// once stopped, nobody is declared failed, nothing is rebalanced, and a member that registers
/// again keeps its chains — it proves its positions when the cluster is started.
extension MasterPolicy {
    public mutating func onStopCluster(now: UInt64) -> (Response, [Effect]) {
        if let r = mustLead(now) { return (r, []) }
        let epoch: Epoch
        do { epoch = try state.beginStop() } catch {
            return (Response(reply: .refused(status: 409, reason: "\(error)"), afterSave: nil), [])
        }
        var effects: [Effect] = [.log(.notice, "stopping the cluster: writes refused, chains draining", ["epoch": "\(epoch)"])]
        let v = persist(&effects)
        return (Response(reply: .maintenance(.init(phase: "draining", epoch: epoch)), afterSave: v), effects)
    }

    public mutating func onStartCluster(force: Bool, now: UInt64) -> (Response, [Effect]) {
        if let r = mustLead(now) { return (r, []) }
        let frozenAt = state.stop?.frozenAt ?? 0
        let (progress, reportedEpoch) = (self.progress, self.reportedEpoch)
        let result: (Epoch, [NodeID: [ChainID]])
        do {
            result = try state.endStop(alive: aliveNodes(now: now), force: force) { node, chain in
                guard (reportedEpoch[node] ?? 0) >= frozenAt else { return nil }
                return progress[node]?[chain]?.applied
            }
        } catch {
            return (Response(reply: .refused(status: 409, reason: "\(error)"), afterSave: nil), [])
        }
        var effects: [Effect] = [.log(.notice, "starting the cluster after a stop", [
            "epoch": "\(result.0)", "rejoining": "\(result.1.mapValues { $0.count })"])]
        let v = persist(&effects)
        return (Response(reply: .maintenance(.init(phase: "running", epoch: result.0, rejoining: result.1.isEmpty ? nil : result.1)),
                         afterSave: v), effects)
    }

    /// Draining: the sequence a frozen chain's members agree on, once they do.
    func drainedSeq(_ chain: ChainID) -> UInt64? {
        guard let c = state.config, Self.quiescent(chain, in: c, progress: progress, reportedEpoch: reportedEpoch),
              let head = c.chains[chain].head else { return nil }
        return progress[head]?[chain]?.applied
    }

    /// The tick's part while a stop is under way: true when the tick has nothing else to do.
    mutating func maintenanceTick(_ effects: inout [Effect]) -> Bool {
        guard let s = state.stop else { return false }
        if s.phase == .stopped { return true }
        if state.finishDrain(applied: drainedSeq) {
            effects.append(.log(.notice, "cluster drained: every process may be stopped now; chainctl start-cluster resumes it",
                                ["epoch": "\(state.epoch)"]))
            _ = persist(&effects)
        }
        return true
    }
}
