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

    /// Adds every planned adapter's update of `target` in block `layer` (the output matrix when both are nil).
    ///
    /// Reads `input` and adds to `output`, rows `weight.inputs` and `weight.outputs` apart. `prompt`: the
    /// products sum in the order llama.cpp uses for a batch of several tokens (else that of a single token).
    func applyLoRA(
        _ plan: LoRAPlan, layer: Int?, target: LoRATarget?, input: UnsafeMutablePointer<Float>,
        output: UnsafeMutablePointer<Float>, prompt: Bool
    ) {
        for level in plan.levels {
            for group in level {
                let found: LoRAWeight?
                if let layer, let target {
                    found = group.adapter.weight(layer: layer, target: target)
                } else {
                    found = group.adapter.output
                }
                guard let weight = found else { continue }
                let scales = group.scales.map { weight.scale($0) }
                let needed = weight.inputs + group.rows.count * weight.rank + weight.outputs + weight.rank
                if loraScratch.count < needed { loraScratch = [Float](repeating: 0, count: needed) }
                loraScratch.withUnsafeMutableBufferPointer { scratch in
                    olk_lora_apply(
                        weight.a, weight.bt, Int32(weight.rank), Int32(weight.inputs), Int32(weight.outputs),
                        weight.typeA == .f16 ? 1 : 0, weight.typeB == .f16 ? 1 : 0, prompt ? 1 : 0, input,
                        weight.inputs, output,
                        weight.outputs, group.rows, scales, Int32(group.rows.count), scratch.baseAddress!)
                }
            }
        }
    }
}
