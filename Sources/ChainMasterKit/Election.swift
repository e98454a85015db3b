import ChainCore

/// What an election tells its master.
enum LeadershipEvent: Sendable {
    /// This master leads until `until` (monotonic ms, its own clock). `begins`: leadership starts
    /// now, and `loaded` is the state as the store holds it (nil: none yet); else a renewal.
    /// `term`: the election's count of beginnings (`Candidacy.term`).
    case leading(until: UInt64, begins: Bool, term: Int, loaded: MasterState?)
    /// Another master leads (`leader`: its API address, when known), or none is known.
    case standby(leader: String?)
}

/// Decides which of several masters leads (`EtcdCoordinator`).
protocol Election: AnyObject, Sendable {
    /// Campaigns and reports every change (and every renewal while leading) from a background
    /// thread.
    func start(_ onEvent: @escaping @Sendable (LeadershipEvent) -> Void)
    /// The store fenced a write: leadership was lost; campaign again.
    func lost(reason: String)
    /// Gives leadership up now (a clean shutdown), so that a standby takes over at once.
    func resign()
    func stop()
    /// The leader's API address, as last seen.
    var leaderAddress: String? { get }
    /// The masters and the store's endpoints, as last seen (never blocks).
    func report() -> MasterAPI.Masters
}
