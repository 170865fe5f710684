import CInferenceKernels

/// Which rows of a batch use which adapter, by stack position.
///
/// Level p holds, for each adapter that some row stacks p-th, the rows and their user scales. Updates are added
/// level by level, so every row gets its adapters in the order it stacked them, whatever the other rows use.
struct LoRAPlan {
    struct Group {
        let adapter: LoRAAdapter
        var rows: [Int32]
        var scales: [Float]
    }

    let levels: [[Group]]
    /// The last row's adapters alone, as row 0 (the prompt's last token gives the logits).
    let lastRowUses: [LoRAUse]

    init(rows: [[LoRAUse]]) {
        var levels: [[Group]] = []
        let depth = rows.map(\.count).max() ?? 0
        for level in 0..<depth {
            var groups: [Group] = []
            var index: [ObjectIdentifier: Int] = [:]
            for (row, uses) in rows.enumerated() where level < uses.count {
                let use = uses[level]
                let key = ObjectIdentifier(use.adapter)
                if let at = index[key] {
                    groups[at].rows.append(Int32(row))
                    groups[at].scales.append(use.scale)
                } else {
                    index[key] = groups.count
                    groups.append(Group(adapter: use.adapter, rows: [Int32(row)], scales: [use.scale]))
                }
            }
            levels.append(groups)
        }
        self.levels = levels
        lastRowUses = rows.last ?? []
    }

    var isEmpty: Bool { levels.isEmpty }

    /// The plan of the last row alone.
    var lastRow: LoRAPlan { LoRAPlan(rows: [lastRowUses]) }
}

extension InferenceSession {
    /// Refuses adapters checked against another base model.
    func checkAdapters(_ uses: [LoRAUse]) throws(ModelError) {
        for use in uses where use.adapter.base != loraBase {
            throw .unsupported("adapter \(use.adapter.name) was made for another base model")
        }
        for use in uses where !use.scale.isFinite {
            throw .unsupported("adapter \(use.adapter.name) with scale \(use.scale)")
        }
    }

    /// Adds every planned adapter's update of `target` in block `layer` (the output matrix when both are nil),
    /// from stack position `first` on.
    ///
    /// Reads `input` and adds to `output`, rows `weight.inputs` and `weight.outputs` apart. `prompt`: the
    /// products sum in the order llama.cpp uses for a batch of several tokens (else that of a single token).
    func applyLoRA(
        _ plan: LoRAPlan, layer: Int?, target: LoRATarget?, input: UnsafeMutablePointer<Float>,
        output: UnsafeMutablePointer<Float>, prompt: Bool, from first: Int = 0
    ) {
        for level in plan.levels.dropFirst(first) {
            guard let jobs = loraJobs(level, layer: layer, target: target, input: input, output: output, prompt: prompt)
            else { continue }
            let parts = min(threads, jobs.jobs.count)
            if parts == 1 {
                jobs.run(part: 0, parts: 1)
            } else {
                pool.run { part in if part < parts { jobs.run(part: part, parts: parts) } }
            }
        }
    }

    /// The first stack position's updates of `target` in block `layer`, to run inside the base product's parallel
    /// pass (no pass of their own): each writes its rows' scaled products into `loraDeltas`, which
    /// `finishLoRA` then adds to the output, the same two roundings as adding them in place.
    func loraPass(
        _ plan: LoRAPlan, layer: Int, target: LoRATarget, input: UnsafeMutablePointer<Float>, prompt: Bool
    ) -> LoRAJobs? {
        guard let level = plan.levels.first else { return nil }
        let width = loraBase.shape(of: target).outputs
        let rows = level.reduce(0) { max($0, Int($1.rows.max() ?? 0) + 1) }
        if loraDeltaCount < rows * width {
            loraDeltas?.deallocate()
            loraDeltaCount = rows * width
            loraDeltas = .allocate(capacity: loraDeltaCount)
        }
        return loraJobs(level, layer: layer, target: target, input: input, output: loraDeltas!, prompt: prompt)
            .map { $0.assigning() }
    }

    /// Adds the deltas of `pass` to `output`, then the updates of the later stack positions.
    func finishLoRA(
        _ pass: LoRAJobs?, _ plan: LoRAPlan, layer: Int, target: LoRATarget, input: UnsafeMutablePointer<Float>,
        output: UnsafeMutablePointer<Float>, prompt: Bool
    ) {
        if let pass {
            for job in pass.jobs {
                let width = job.weight.outputs
                for row in job.rows {
                    let delta = pass.output + Int(row) * width
                    let out = output + Int(row) * width
                    for i in 0..<width { out[i] = out[i] + delta[i] }
                }
            }
        }
        if plan.levels.count > 1 {
            applyLoRA(plan, layer: layer, target: target, input: input, output: output, prompt: prompt, from: 1)
        }
    }

    /// The jobs of one stack position: a group's rows in up to `threads` slices.
    ///
    /// Rows of one level are distinct, so the jobs write disjoint rows and run on the worker threads at once; each
    /// row's arithmetic is the same either way.
    private func loraJobs(
        _ level: [LoRAPlan.Group], layer: Int?, target: LoRATarget?, input: UnsafeMutablePointer<Float>,
        output: UnsafeMutablePointer<Float>, prompt: Bool
    ) -> LoRAJobs? {
        var jobs: [LoRAJob] = []
        var largest = 0
        for group in level {
            let found: LoRAWeight?
            if let layer, let target {
                found = group.adapter.weight(layer: layer, target: target)
            } else {
                found = group.adapter.output
            }
            guard let weight = found else { continue }
            let scales = group.scales.map { weight.scale($0) }
            let slice = (group.rows.count + threads - 1) / threads
            for start in stride(from: 0, to: group.rows.count, by: slice) {
                let end = min(group.rows.count, start + slice)
                jobs.append(
                    LoRAJob(weight: weight, rows: Array(group.rows[start..<end]), scales: Array(scales[start..<end])))
                largest = max(largest, weight.inputs + (end - start) * weight.rank + weight.outputs + weight.rank)
            }
        }
        guard !jobs.isEmpty else { return nil }
        if loraScratchCount < threads * largest {
            loraScratch?.deallocate()
            loraScratchCount = threads * largest
            loraScratch = .allocate(capacity: loraScratchCount)
        }
        return LoRAJobs(
            jobs: jobs, input: input, output: output, scratch: loraScratch!, stride: largest, prompt: prompt,
            accumulate: true)
    }
}

/// One slice of a group: an adapted matrix, the batch rows it updates and their scales.
struct LoRAJob {
    let weight: LoRAWeight
    let rows: [Int32]
    let scales: [Float]
}

/// The jobs of one level, shared by the worker threads (each part runs every `parts`-th job in its own scratch).
struct LoRAJobs: @unchecked Sendable {
    let jobs: [LoRAJob]
    let input: UnsafeMutablePointer<Float>
    let output: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutablePointer<Float>
    let stride: Int
    let prompt: Bool
    /// Whether the updates are added to `output` (else written there alone).
    let accumulate: Bool

    /// The same jobs writing their scaled products alone.
    func assigning() -> LoRAJobs {
        LoRAJobs(
            jobs: jobs, input: input, output: output, scratch: scratch, stride: stride, prompt: prompt,
            accumulate: false)
    }

    /// Runs every `parts`-th job from `part` on, in scratch of its own.
    func run(part: Int, parts: Int) {
        var index = part
        while index < jobs.count {
            let job = jobs[index]
            let weight = job.weight
            // The weights this part reads next are fetched into the cache while this update runs.
            let next = index + parts < jobs.count ? jobs[index + parts].weight : nil
            olk_lora_apply_stored(
                weight.storage, weight.halfA ? 1 : 0, weight.storedBT, weight.halfB ? 1 : 0, Int32(LoRAWeight.panel),
                Int32(weight.rank), Int32(weight.inputs), Int32(weight.outputs), weight.halfA ? 1 : 0,
                weight.halfB ? 1 : 0, prompt ? 1 : 0, input, weight.inputs, output, weight.outputs, job.rows,
                job.scales, Int32(job.rows.count), scratch + part * stride, next.map { UnsafeRawPointer($0.storage) },
                next === weight ? 0 : next?.byteCount ?? 0, accumulate ? 1 : 0)
            index += parts
        }
    }
}
