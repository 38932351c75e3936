import LowpassIR

/// The translations of data movement, reductions, normalizations and resampling: ops whose PyTorch
/// form depends on shapes the exporter knows from verification (a slice's clamped bounds, a gather's
/// normalized indices).
extension ModuleWriter {
    mutating func reshaping(_ node: Node, _ x: String) throws(NodeError) -> String {
        let r = rank(node.inputs[0])
        switch node.op {
        case .flatten:
            let axis = try normalized(try node.int("axis"), rank: r, allowEnd: true)
            if axis == 0 { return "\(x).reshape(1, -1)" }
            if axis == r { return "\(x).reshape(-1, 1)" }
            return axis == 1 ? "torch.flatten(\(x), 1)" : "\(x).reshape(math.prod(\(x).shape[:\(axis)]), -1)"
        case .reshape:
            let keepZero = try node.int("allowzero") != 0
            let sizes = try node.ints("shape").enumerated().map { i, size in size == 0 && !keepZero ? "\(x).shape[\(i)]" : String(size) }
            return "\(x).reshape(\(sizes.joined(separator: ", "))\(sizes.count == 1 ? "," : ""))"
        case .concat:
            var operands: [String] = []
            for input in node.inputs { operands.append(try value(input)) }
            return "torch.cat([\(operands.joined(separator: ", "))], \(try normalized(try node.int("axis"), rank: r)))"
        case .pad: return try pad(node, x, rank: r)
        case .transpose:
            let perm = node.attributes["perm"] == nil ? Array((0..<r).reversed()) : try node.ints("perm")
            return "\(x).permute(\(perm.map(String.init).joined(separator: ", ")))"
        case .slice: return try slice(node, x, rank: r)
        case .squeeze:
            let axes = try node.attributes["axes"] == nil
                ? shape(node.inputs[0]).indices.filter { shape(node.inputs[0])[$0] == .fixed(1) }
                : node.ints("axes").map { (axis) throws(NodeError) in try normalized(axis, rank: r) }
            return "\(x).squeeze(\(PythonName.tuple(axes.sorted())))"
        case .unsqueeze:
            let axes = try node.ints("axes")
            let positions = try axes.map { (axis) throws(NodeError) in try normalized(axis, rank: r + axes.count) }.sorted()
            return positions.reduce(x) { "\($0).unsqueeze(\($1))" }
        case .expand:
            let sizes = shape(node.outputs[0]).map { $0.value.map(String.init) ?? "-1" }
            return "\(x).expand(\(sizes.joined(separator: ", ")))"
        case .gather: return try gather(node, x, rank: r)
        case .depthToSpace:
            let block = try node.int("blocksize")
            if try node.string("mode") == "CRD" { return "F.pixel_shuffle(\(x), \(block))" }
            helpers.insert(.depthToSpaceDCR)
            return "depth_to_space_dcr(\(x), \(block))"
        case .spaceToDepth:
            helpers.insert(.spaceToDepth)
            return "space_to_depth(\(x), \(try node.int("blocksize")))"
        case .tile: return "\(x).repeat(\(PythonName.tuple(try node.ints("repeats"))))"
        case .reduceMean, .reduceSum, .reduceMax, .reduceMin, .reduceL2:
            let reduction = try node.reduction(rank: r)
            let (dims, keep) = (PythonName.tuple(reduction.axes), reduction.keepDims ? "True" : "False")
            switch reduction.kind {
            case .mean: return "\(x).mean(\(dims), keepdim=\(keep))"
            case .sum: return "\(x).sum(\(dims), keepdim=\(keep))"
            case .max: return "torch.amax(\(x), \(dims), keepdim=\(keep))"
            case .min: return "torch.amin(\(x), \(dims), keepdim=\(keep))"
            case .l2: return "torch.linalg.vector_norm(\(x), 2, \(dims), keepdim=\(keep))"
            }
        case .argMax, .argMin:
            let reduction = try node.indexReduction(rank: r)
            let (function, keep) = (reduction.largest ? "torch.argmax" : "torch.argmin", reduction.keepDims ? "True" : "False")
            guard reduction.lastIndex else { return "\(function)(\(x), \(reduction.axis), keepdim=\(keep)).float()" }
            return "(\(x).shape[\(reduction.axis)] - 1 - \(function)(torch.flip(\(x), [\(reduction.axis)]), \(reduction.axis), keepdim=\(keep))).float()"
        case .layerNormalization, .instanceNormalization, .groupNormalization: return try normalization(node, x, rank: r)
        case .resize: return try resize(node, x)
        default:
            throw NodeError(.unsupportedExport, "\(node.op.rawValue) has no PyTorch translation yet")
        }
    }

    private func pad(_ node: Node, _ x: String, rank r: Int) throws(NodeError) -> String {
        let pads = try node.ints("pads")
        guard pads.count == 2 * r else { throw NodeError(.badAttribute, "Pad needs \(2 * r) pads for rank \(r), has \(pads.count)") }
        // F.pad lists (begin, end) pairs from the last axis backwards, as far as the first padded axis.
        let first = (0..<r).first { pads[$0] != 0 || pads[$0 + r] != 0 } ?? r
        let pairs = stride(from: r - 1, through: first, by: -1).flatMap { [pads[$0], pads[$0 + r]] }
        if pairs.isEmpty { return x }
        switch try node.string("mode") {
        case "constant":
            let value = try node.float("value")
            return "F.pad(\(x), \(PythonName.tuple(pairs))\(value == 0 ? "" : ", value=\(PythonName.float(value))"))"
        case let mode:
            // Reflect and replicate take the last r-2 or r-1 axes' pairs (at most three): zero pairs fill up.
            let axes = max(r - first, r - 2)
            guard (1...min(3, r - 1)).contains(axes) else {
                throw NodeError(.unsupportedExport, "Pad mode \(mode) on axes \(first)... of a rank-\(r) tensor has no PyTorch form (it pads the last one to three axes, not the first)")
            }
            let filled = stride(from: r - 1, through: r - axes, by: -1).flatMap { [pads[$0], pads[$0 + r]] }
            return "F.pad(\(x), \(PythonName.tuple(filled)), mode=\"\(["edge": "replicate", "wrap": "circular"][mode] ?? "reflect")\")"
        }
    }

    /// ONNX's clamping of each sliced axis (its size is fixed), then Python slices; negative steps
    /// slice the flipped axis.
    private func slice(_ node: Node, _ x: String, rank r: Int) throws(NodeError) -> String {
        let starts = try node.ints("starts"), ends = try node.ints("ends")
        let axes = try (node.attributes["axes"] == nil ? Array(0..<starts.count) : node.ints("axes"))
            .map { (axis) throws(NodeError) in try normalized(axis, rank: r) }
        let steps = node.attributes["steps"] == nil ? [Int](repeating: 1, count: starts.count) : try node.ints("steps")
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw NodeError(.badAttribute, "Slice's starts, ends, axes and steps must have one entry per sliced axis")
        }
        var ranges = [String](repeating: ":", count: r)
        var flipped: [Int] = []
        for (i, axis) in axes.enumerated() {
            guard case .fixed(let n) = shape(node.inputs[0])[axis] else { throw NodeError(.unsupportedExport, "Slice needs axis \(axis) of a fixed size") }
            let step = steps[i]
            guard step != 0 else { throw NodeError(.badAttribute, "Slice steps must be nonzero") }
            var (start, end) = (starts[i] < 0 ? starts[i] + n : starts[i], ends[i] < 0 ? ends[i] + n : ends[i])
            if step > 0 {
                (start, end) = (min(max(start, 0), n), min(max(end, 0), n))
                ranges[axis] = "\(start):\(end)" + (step == 1 ? "" : ":\(step)")
            } else {
                (start, end) = (min(max(start, 0), n - 1), min(max(end, -1), n - 1))
                let count = max(0, (start - end + (-step) - 1) / -step)
                let first = n - 1 - start
                ranges[axis] = "\(first):\(first + count * -step):\(-step)"
                flipped.append(axis)
            }
        }
        let source = flipped.isEmpty ? x : "torch.flip(\(x), \(PythonName.ints(flipped)))"
        while ranges.last == ":" { ranges.removeLast() }
        return ranges.isEmpty ? source : "\(source)[\(ranges.joined(separator: ", "))]"
    }

    private func gather(_ node: Node, _ x: String, rank r: Int) throws(NodeError) -> String {
        let axis = try normalized(try node.int("axis"), rank: r)
        guard case .fixed(let n) = shape(node.inputs[0])[axis] else { throw NodeError(.unsupportedExport, "Gather needs axis \(axis) of a fixed size") }
        let indices = try node.ints("indices").map { $0 < 0 ? $0 + n : $0 }
        let indexShape = try node.ints("indices_shape")
        if indexShape.isEmpty, indices.count == 1 { return "\(x).select(\(axis), \(indices[0]))" }
        let selected = "torch.index_select(\(x), \(axis), torch.tensor(\(PythonName.ints(indices)), device=\(x).device))"
        return indexShape.count == 1 ? selected : "\(selected).unflatten(\(axis), \(PythonName.tuple(indexShape)))"
    }

    private mutating func normalization(_ node: Node, _ x: String, rank r: Int) throws(NodeError) -> String {
        let epsilon = PythonName.float(try node.float("epsilon"))
        let (scaleName, shiftName) = (node.inputs[1], node.inputs.count > 2 ? node.inputs[2] : nil)
        let roles = [(1, "weight")] + (shiftName == nil ? [] : [(2, "bias")])
        switch node.op {
        case .layerNormalization:
            let axis = try normalized(try node.int("axis"), rank: r)
            let normalizedShape = TensorType(.f32, Array(shape(node.inputs[0])[axis...])).fixedShape
            if let normalizedShape, normalizedShape == parameters[scaleName]?.type.fixedShape, let path = layerPath(node, roles) {
                try tree.add(path, .layer(constructor: "nn.LayerNorm(\(PythonName.tuple(normalizedShape)), eps=\(epsilon)\(shiftName == nil ? ", bias=False" : ""))"))
                return "\(ModuleTree.access(path))(\(x))"
            }
            let scaled = "F.layer_norm(\(x), \(x).shape[\(axis):], eps=\(epsilon)) * \(try value(scaleName))"
            return try shiftName.map { (name) throws(NodeError) in "\(scaled) + \(try value(name))" } ?? scaled
        case .instanceNormalization:
            let channels = try fixedShape(scaleName, for: "InstanceNormalization")[0]
            if r == 4, let path = layerPath(node, roles) {
                try tree.add(path, .layer(constructor: "nn.InstanceNorm2d(\(channels), eps=\(epsilon), affine=True)"))
                return "\(ModuleTree.access(path))(\(x))"
            }
            return "F.instance_norm(\(x), weight=\(try value(scaleName)), bias=\(try value(node.inputs[2])), eps=\(epsilon))"
        default:
            let groups = try node.int("num_groups")
            let channels = try fixedShape(scaleName, for: "GroupNormalization")[0]
            if let path = layerPath(node, roles) {
                try tree.add(path, .layer(constructor: "nn.GroupNorm(\(groups), \(channels), eps=\(epsilon))"))
                return "\(ModuleTree.access(path))(\(x))"
            }
            return "F.group_norm(\(x), \(groups), \(try value(scaleName)), \(try value(node.inputs[2])), \(epsilon))"
        }
    }

    private func resize(_ node: Node, _ x: String) throws(NodeError) -> String {
        let input = try fixedShape(node.inputs[0], for: "Resize"), output = try fixedShape(node.outputs[0], for: "Resize")
        let (height, width) = (output[2], output[3])
        if node.attributes["scales"] != nil {
            guard case .floats(let scales) = try node.attribute("scales") else { throw NodeError(.badAttribute, "Resize's scales must be a list of numbers") }
            guard scales.count == 4, abs(scales[2] - Double(height) / Double(input[2])) < 1e-6, abs(scales[3] - Double(width) / Double(input[3])) < 1e-6 else {
                throw NodeError(.unsupportedExport, "Resize with scales \(scales) other than the output's size ratio has no F.interpolate form")
            }
        }
        let size = "size=\(PythonName.tuple([height, width]))"
        let transform = try node.string("coordinate_transformation_mode")
        if try node.string("mode") == "linear" {
            if transform == "align_corners" { return "F.interpolate(\(x), \(size), mode=\"bilinear\", align_corners=True)" }
            if transform == "half_pixel" || (transform == "pytorch_half_pixel" && height > 1 && width > 1) {
                return "F.interpolate(\(x), \(size), mode=\"bilinear\", align_corners=False)"
            }
        } else {
            let rounding = try node.string("nearest_mode")
            if transform == "asymmetric" && rounding == "floor" { return "F.interpolate(\(x), \(size), mode=\"nearest\")" }
            if transform == "half_pixel" && rounding == "round_prefer_ceil" { return "F.interpolate(\(x), \(size), mode=\"nearest-exact\")" }
        }
        throw NodeError(.unsupportedExport, "Resize mode \(try node.string("mode")) with \(transform) coordinates has no F.interpolate form")
    }
}

extension ModuleWriter.Helper {
    var source: String {
        switch self {
        case .blurPool: """
            class BlurPool(nn.Module):
                \"\"\"Zhang's antialiased downsampling: a binomial low-pass filter on each channel, then subsampling.

                The filter is a non-persistent buffer: it adds no state_dict key and is never trained.
                `pads` is F.pad's (left, right, top, bottom). With `channels` given the filter is stored once
                per channel, as antialiased_cnns does, so tracers (torch.onnx.export) see its shape.
                \"\"\"

                def __init__(self, channels, filter_size, stride, pad_mode, pads):
                    super().__init__()
                    taps = torch.tensor([math.comb(filter_size - 1, k) for k in range(filter_size)], dtype=torch.float64)
                    taps = taps / taps.sum()
                    kernel = (taps[:, None] * taps[None, :]).float()[None, None]
                    self.register_buffer("filter", kernel.repeat(channels, 1, 1, 1) if channels else kernel, persistent=False)
                    self.stride, self.pad_mode, self.pads = stride, pad_mode, pads

                def forward(self, x):
                    if any(self.pads):
                        x = F.pad(x, self.pads, mode=self.pad_mode)
                    channels = x.shape[1]
                    weight = self.filter if self.filter.shape[0] == channels else self.filter[:1].expand(channels, 1, -1, -1)
                    return F.conv2d(x, weight, stride=self.stride, groups=channels)

            """
        case .polyphase: """
            def polyphase_components(x, stride):
                \"\"\"[N, sH*sW, C, ceil(H/sH), ceil(W/sW)]: component i*sW + j holds rows i, i+sH, ... and columns j, j+sW, ...,
                wrapping around where H or W is not a multiple of the stride.\"\"\"
                (sh, sw), (n, c, h, w) = stride, x.shape
                ho, wo = -(-h // sh), -(-w // sw)
                if ho * sh != h:
                    x = x[:, :, torch.arange(ho * sh, device=x.device) % h]
                if wo * sw != w:
                    x = x[:, :, :, torch.arange(wo * sw, device=x.device) % w]
                return x.reshape(n, c, ho, sh, wo, sw).permute(0, 3, 5, 1, 2, 4).reshape(n, sh * sw, c, ho, wo)


            def polyphase_index(x, stride, norm):
                \"\"\"Adaptive polyphase sampling's choice: per sample, the component with the largest l2 (or l1) norm; the first of equals.\"\"\"
                components = polyphase_components(x, stride).detach().double()
                criterion = components.square() if norm == "l2" else components.abs()
                return criterion.sum((2, 3, 4)).argmax(1).to(x.dtype)


            def polyphase_select(x, index, stride):
                components = polyphase_components(x, stride)
                k = torch.nan_to_num(index, nan=0.0).clamp(0, components.shape[1] - 1).long()
                return components[torch.arange(x.shape[0], device=x.device), k]

            """
        case .depthToSpaceDCR: """
            def depth_to_space_dcr(x, block):
                n, c, h, w = x.shape
                x = x.reshape(n, block, block, c // (block * block), h, w).permute(0, 3, 4, 1, 5, 2)
                return x.reshape(n, c // (block * block), h * block, w * block)

            """
        case .spaceToDepth: """
            def space_to_depth(x, block):
                n, c, h, w = x.shape
                x = x.reshape(n, c, h // block, block, w // block, block).permute(0, 3, 5, 1, 2, 4)
                return x.reshape(n, c * block * block, h // block, w // block)

            """
        }
    }
}
