import ChainCore
import Foundation

/// Where the master's durable state lives: a file in its data directory (one master), or etcd
/// (several masters, one leading; see `EtcdStore`). Saves run off the event loop and complete in
/// the order they were made.
protocol MasterStore: AnyObject, Sendable {
    /// What `chainctl status` and the metrics call it.
    var kind: String { get }
    /// Saves `data` (the encoded `MasterState`, decided in leadership `term`); `done` runs on
    /// any thread.
    func save(_ data: Data, term: Int, done: @escaping @Sendable (SaveOutcome) -> Void)
    /// Waits for saves still running (shutdown only, off the loop).
    func drain()
}

enum SaveOutcome: Sendable, Equatable {
    case saved
    /// The store could not be written (disk, network): try again later.
    case failed(String)
    /// The store refused the write because this master no longer leads (etcd's compare on the
    /// leadership key or on the state's revision failed): it must stop acting.
    case fenced(String)
}

/// The stored form of the state: a format tag around it, so that foreign or corrupt data is
/// recognized and refused rather than adopted.
struct StoredState: Codable {
    static let currentFormat = "chainstore/master-state/v1"
    var format: String
    var state: MasterState

    static func encode(_ state: MasterState) throws -> Data {
        try JSONEncoder().encode(StoredState(format: currentFormat, state: state))
    }

    enum DecodeError: Error, CustomStringConvertible {
        case foreign(String)
        var description: String {
            switch self { case let .foreign(m): return m }
        }
    }

    /// Reads what a store holds; the old file format (the bare state) is still accepted.
    static func decode(_ data: Data, from source: String) throws(DecodeError) -> MasterState {
        if let s = try? JSONDecoder().decode(StoredState.self, from: data) {
            guard s.format == currentFormat else { throw .foreign("\(source) holds master state of format '\(s.format)', not '\(currentFormat)'") }
            return s.state
        }
        if let bare = try? JSONDecoder().decode(MasterState.self, from: data) { return bare }
        throw .foreign("\(source) does not hold chainstore master state (\(data.count) bytes that are not its JSON): refusing to start rather than overwrite it; point the master at an empty location or restore the data")
    }
}

/// The file store: `state.json` in the data directory, written durably (`StateFile`).
final class FileStore: MasterStore {
    let file: StateFile
    var kind: String { "file" }

    init(directory: String) { file = StateFile(directory: directory) }

    func load() throws -> MasterState? {
        guard let data = try file.load() else { return nil }
        return try StoredState.decode(data, from: file.path)
    }

    func save(_ data: Data, term: Int, done: @escaping @Sendable (SaveOutcome) -> Void) {
        file.save(data) { error in done(error.map { .failed($0) } ?? .saved) }
    }

    func drain() { file.drain() }
}
