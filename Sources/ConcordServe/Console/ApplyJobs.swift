import ConcordCore
import ConcordRepair
import Foundation

/// Plans being applied from the console, each on a thread of its own; one at a time per plan.
final class ApplyJobs: @unchecked Sendable {
    // @unchecked: `jobs` and every job's fields are used under `lock`.
    final class Job: @unchecked Sendable {
        enum State: Sendable { case running, finished(PlanExecution.Outcome), failed(String) }
        let planId: String
        let operatorName: String
        let from: String
        let started = Date()
        fileprivate(set) var state = State.running
        fileprivate(set) var done = 0
        fileprivate(set) var total: Int

        init(planId: String, operatorName: String, from: String, total: Int) {
            self.planId = planId
            self.operatorName = operatorName
            self.from = from
            self.total = total
        }
    }

    struct Snapshot: Sendable {
        var state: Job.State
        var done: Int
        var total: Int
        var operatorName: String
        var from: String
        var started: Date
    }

    private let lock = NSLock()
    private var jobs: [String: Job] = [:]

    func snapshot(_ planId: String) -> Snapshot? {
        lock.withLock {
            jobs[planId].map { Snapshot(state: $0.state, done: $0.done, total: $0.total, operatorName: $0.operatorName, from: $0.from, started: $0.started) }
        }
    }

    /// Starts applying `plan`; false when it is being applied already.
    func start(_ plan: RepairPlan, operatorName: String, from: String, configuration c: ServeConfiguration) -> Bool {
        let job = Job(planId: plan.planId, operatorName: operatorName, from: from, total: plan.operations.count)
        let started: Bool = lock.withLock {
            if let existing = jobs[plan.planId], case .running = existing.state { return false }
            jobs[plan.planId] = job
            return true
        }
        guard started else { return false }
        let thread = Thread { [self] in
            let state: Job.State
            do {
                let stores = RepairStores(postgres: try c.makePostgres(), redis: try c.makeRedis(), graph: try c.makeGraph())
                let outcome = try PlanExecution.run(
                    plan, stores: stores, journal: try c.makePostgres(), operator: operatorName, outputDir: c.reportsDirectory,
                    commandLine: ["concord", "serve", "(console: approve and apply)", "from", from],
                    progress: { [self] done, total in lock.withLock { job.done = done; job.total = total } })
                state = .finished(outcome)
            } catch {
                state = .failed("\(error)")
            }
            lock.withLock { job.state = state }
        }
        thread.name = "concord-console-apply"
        thread.start()
        return true
    }
}
