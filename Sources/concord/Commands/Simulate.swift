import ArgumentParser
import ConcordCore
import ConcordFlow
import ConcordSimulator
import ConcordModel
import Foundation
import Logging

/// `concord simulate`: a realistic workload through the real write paths.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Produce workflow runs, events and drafts through the real write paths, then sync them.",
        discussion: """
            Deterministic from --seed (and --base-time): the same flags give the same ids, shapes,
            payloads and draft outcomes. Without --no-sync the live sync then drains the queue, so a
            clean simulation is a consistent dataset. --live RATE keeps producing (and syncing) new
            runs at RATE events per second until SIGINT/SIGTERM.
            """)

    @OptionGroup var stores: StoreOptions

    @Option(name: .long, help: "Seed for every random choice.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Number of workflow runs.")
    var runs = 100

    @Option(name: .long, help: "Events per run (at least 2: started … finished).")
    var eventsPerRun = 20

    @Option(name: .long, help: "Time of the first run, ms since the epoch (default: one hour ago).")
    var baseTime: Int64?

    @Option(name: .long, help: "XADD MAXLEN ~ N for the run streams.")
    var streamMaxLength = 10_000

    @Flag(name: .long, help: "Leave the events in the queue (no sync).")
    var noSync = false

    @Option(name: .long, help: "After the batch, keep producing at RATE events/s (and syncing) until stopped.")
    var live: Double?

    @Option(name: .long, help: "Faults to inject after the sync: kind=N or kind=P% (of the runs), comma-separated; all=N for every kind.")
    var faults: String?

    @Option(name: .long, help: "Write the ground truth of the injected faults (rule id and key of every finding) to FILE.")
    var truth: String?

    func validate() throws {
        guard runs >= 0 else { throw ValidationError("--runs must be 0 or more") }
        guard eventsPerRun >= 2 else { throw ValidationError("--events-per-run must be at least 2") }
        if let live, live <= 0 { throw ValidationError("--live must be a positive rate") }
        if faults != nil && noSync { throw ValidationError("--faults are injected into a synced dataset: drop --no-sync") }
        if let faults {
            do { _ = try FaultSpec(parsing: faults) } catch let e as ConcordError { throw ValidationError(e.message) }
        }
        if truth != nil && faults == nil { throw ValidationError("--truth needs --faults") }
    }

    func run() throws {
        Signals.install()
        let pg = try stores.connectPostgres()
        let redis = try stores.connectRedis()
        let graph = try stores.connectGraph()
        let simulator = Simulator(postgres: pg, redis: redis, graph: graph, streamMaxLength: streamMaxLength)
        let base = baseTime ?? (nowMilliseconds() - 3_600_000)
        let workload = Workload.generate(seed: seed, runs: runs, eventsPerRun: eventsPerRun, baseTime: base)
        let tty = isatty(STDERR_FILENO) == 1
        let counts = try simulator.produce(workload) { c in
            if tty { FileHandle.standardError.write(Data("\r  produced \(c.runs)/\(runs) runs, \(c.events) events".utf8)) }
        }
        if tty { FileHandle.standardError.write(Data("\n".utf8)) }
        Output.line("produced \(counts.runs) runs, \(counts.events) events, \(counts.drafts) drafts "
            + "(\(counts.published) published, \(counts.discarded) discarded) with seed \(seed)")
        if !noSync {
            let engine = SyncEngine(redis: redis, graph: graph, postgres: pg)
            engine.shouldStop = { Signals.stopRequested }
            let n = try engine.drain()
            Output.line("synced \(n) entries (\(engine.metrics.counter("processed")) confirmed, "
                + "\(engine.metrics.counter("deadlettered")) dead-lettered), \(engine.metrics.counter("publications_synced")) publications")
        }
        if let faults {
            var injector = FaultInjector(postgres: pg, redis: redis, graph: graph, seed: seed, streamMaxLength: streamMaxLength)
            try injector.inject(try FaultSpec(parsing: faults), into: workload)
            let byRule = Dictionary(grouping: injector.truth, by: \.rule).mapValues(\.count)
            Output.line("injected faults: \(injector.truth.count) expected findings (\(byRule.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))")
            if let truth {
                try (injector.truthJSON(seed: seed).encoded() + "\n").write(toFile: truth, atomically: true, encoding: .utf8)
                Output.line("ground truth written to \(truth)")
            }
        }
        if let live { try runLive(rate: live, simulator: simulator) }
    }

    /// Produces new runs at `rate` events/s while a sync thread drains them.
    private func runLive(rate: Double, simulator: Simulator) throws {
        let syncStores = stores
        let syncing = !noSync
        let done = DispatchSemaphore(value: 0)
        if syncing {
            Thread.detachNewThread {
                defer { done.signal() }
                do {
                    let engine = SyncEngine(redis: try syncStores.connectRedis(), graph: try syncStores.connectGraph(),
                                            postgres: try syncStores.connectPostgres())
                    engine.shouldStop = { Signals.stopRequested }
                    try engine.run()
                } catch {
                    Output.error("live sync stopped: \(error)")
                }
            }
        }
        Output.line("live: producing \(rate) events/s until SIGINT/SIGTERM")
        var round: UInt64 = 0
        var produced = 0
        let started = Date()
        while !Signals.stopRequested {
            round += 1
            // One small run per round; pace so the average rate holds.
            let w = Workload.generate(seed: seed &* 1_000_003 &+ round, runs: 1, eventsPerRun: eventsPerRun, baseTime: nowMilliseconds())
            try simulator.produce(w)
            produced += w.runs[0].events.count
            let due = started.addingTimeInterval(Double(produced) / rate)
            let wait = due.timeIntervalSinceNow
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
        }
        if syncing { done.wait() }
        Output.line("live: produced \(produced) events in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }
}
