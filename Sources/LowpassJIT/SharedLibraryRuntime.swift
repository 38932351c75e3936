import LowpassIR

/// The C source of a compiled model's runtime (`SharedLibrary`) and its header. The tables say what
/// the JIT's `CompiledModel` computes at load time: per kernel, its function, its argument slots (an
/// arena offset, a blob offset, or a graph input or output) and, per image of the image-by-image
/// prefix, the work items to run. The C code only follows them.
struct RuntimeSource {
    var name: String
    var lowered: LoweredModel
    var schedule: ImageSchedule
    var plan: MemoryPlan
    var functions: [KernelCompiler.Function]
    var blob: Blob
    var target: Target

    /// The graph's inputs then outputs, as the `io` slots the tables refer to.
    var ioBuffers: [Int] { lowered.inputs.map(\.buffer) + lowered.outputs.map(\.buffer) }

    var text: String {
        let io = ioBuffers
        var arguments: [String] = [], kernels: [String] = [], ranges: [String] = []
        for (k, kernel) in lowered.kernels.enumerated() {
            let images = schedule.kernels.contains(k) ? schedule.images : 1
            kernels.append("    {\(functions[k].symbol), \(images), \(arguments.count), \(kernel.arguments.count), \(ranges.count / 2)},")
            for image in 0..<images {
                let items = images > 1 ? schedule.items(kernel.workItems, image: image) : 0..<kernel.workItems
                ranges += ["\(items.lowerBound)", "\(items.upperBound)"]
            }
            for argument in kernel.arguments {
                switch argument {
                case .buffer(let b) where plan.external.contains(b):
                    // An input that is also an output has one slot, the input's.
                    arguments.append("    {IO, \(io.firstIndex(of: b) ?? 0), 0},")
                case .buffer(let b):
                    let stride = schedule.perImage.contains(b) ? schedule.floats(of: b, in: lowered) : 0
                    arguments.append("    {ARENA, \(plan.offsets[b]), \(stride)},")
                case .constant(let c): arguments.append("    {BLOB, \(blob.constantOffsets[c]), 0},")
                case .weight(let w): arguments.append("    {BLOB, \(blob.weightOffsets[w] ?? 0), 0},")
                }
            }
        }
        // Outputs that are graph inputs (or another output) get no kernel: they are copies.
        var copies: [String] = []
        for (o, output) in lowered.outputs.enumerated() {
            if let source = io.firstIndex(of: output.buffer), source != lowered.inputs.count + o {
                copies.append("    {\(lowered.inputs.count + o), \(source), \(output.shape.reduce(1, *))},")
            }
        }
        let declarations = Set(functions.map(\.symbol)).sorted().map { "extern void \($0)(float **, int64_t, int64_t, float *);" }
        let scratch = MemoryPlan.aligned(lowered.kernels.map(\.scratchFloats).max() ?? 0)
        return Self.template
            .replacingOccurrences(of: "@DECLARATIONS@", with: declarations.joined(separator: "\n"))
            .replacingOccurrences(of: "@ARGUMENTS@", with: arguments.isEmpty ? "    {0, 0, 0}," : arguments.joined(separator: "\n"))
            .replacingOccurrences(of: "@KERNELS@", with: kernels.isEmpty ? "    {0, 0, 0, 0, 0}," : kernels.joined(separator: "\n"))
            .replacingOccurrences(of: "@RANGES@", with: ranges.isEmpty ? "0, 0" : ranges.joined(separator: ", "))
            .replacingOccurrences(of: "@COPIES@", with: copies.isEmpty ? "    {0, 0, 0}," : copies.joined(separator: "\n"))
            .replacingOccurrences(of: "@COPY_COUNT@", with: "\(copies.count)")
            .replacingOccurrences(of: "@KERNEL_COUNT@", with: "\(lowered.kernels.count)")
            .replacingOccurrences(of: "@PREFIX_KERNELS@", with: "\(schedule.kernels.count)")
            .replacingOccurrences(of: "@IMAGES@", with: "\(schedule.images)")
            .replacingOccurrences(of: "@IO_COUNT@", with: "\(io.count)")
            .replacingOccurrences(of: "@ARENA_FLOATS@", with: "\(max(plan.size, 1))")
            .replacingOccurrences(of: "@SCRATCH_FLOATS@", with: "\(scratch)")
            .replacingOccurrences(of: "@INPUT_COUNT@", with: "\(lowered.inputs.count)")
            .replacingOccurrences(of: "@CPU_CHECK@", with: requiredFeatures.isEmpty ? "1" : requiredFeatures.map { "__builtin_cpu_supports(\"\($0)\")" }.joined(separator: " && "))
            .replacingOccurrences(of: "@NAME@", with: name)
    }

    /// The vector features the kernels need, by GCC's and Clang's `__builtin_cpu_supports` names.
    var requiredFeatures: [String] {
        let candidates = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
        return candidates.filter { target.has($0) }
    }

    func header(graph: String) -> String {
        let guardName = name.uppercased() + "_H"
        func list(_ values: [(name: String, buffer: Int, shape: [Int])], _ kind: String) -> String {
            values.enumerated().map { i, v in
                "/* \(kind) \(i): \"\(v.name.replacingOccurrences(of: "*/", with: "* /"))\", f32\(v.shape), \(v.shape.reduce(1, *)) floats */\n" +
                    "#define \(name.uppercased())_\(kind.uppercased())\(i)_FLOATS \(v.shape.reduce(1, *))"
            }.joined(separator: "\n")
        }
        return """
            /* \(name).h: the C interface of a model compiled by `lowpass compile` (graph '\(graph.replacingOccurrences(of: "*/", with: "* /"))').
             * Link the library it came with; nothing else (no Swift, no LLVM) is needed at run time.
             * Tensors are dense row-major float32 (NCHW), in the shapes below; batch and size are fixed. */
            #ifndef \(guardName)
            #define \(guardName)

            #ifdef __cplusplus
            extern "C" {
            #endif

            typedef struct \(name)_model \(name)_model;

            #define \(name.uppercased())_INPUTS \(lowered.inputs.count)
            #define \(name.uppercased())_OUTPUTS \(lowered.outputs.count)
            \(list(lowered.inputs, "input"))
            \(list(lowered.outputs, "output"))

            /* A model ready to run, with `threads` threads (1 or more; the caller's thread is one of them).
             * NULL when memory or threads could not be had, or when this CPU lacks an instruction set the
             * kernels were compiled for (\(requiredFeatures.isEmpty ? "none" : requiredFeatures.joined(separator: ", "))): build the library with
             * `lowpass compile --target avx2` for older CPUs. One model runs one call at a time. */
            \(name)_model *\(name)_create(int threads);

            /* Computes the outputs from the inputs, each an array of the floats above, in the order above.
             * Returns 0. Inputs are only read; outputs are written in full. */
            int \(name)_run(\(name)_model *model, const float *const inputs[], float *const outputs[]);

            void \(name)_destroy(\(name)_model *model);

            #ifdef __cplusplus
            }
            #endif
            #endif

            """
    }

    static let template = #"""
        /* Generated by `lowpass compile`: the runtime of one compiled model. */
        #define _POSIX_C_SOURCE 200809L
        #include <pthread.h>
        #include <stdatomic.h>
        #include <stdint.h>
        #include <stdlib.h>
        #include <string.h>

        typedef void (*lp_kernel)(float **, int64_t, int64_t, float *);
        @DECLARATIONS@
        extern const float @NAME@_lowpass_blob[];

        enum { ARENA, BLOB, IO };
        typedef struct { int kind; int64_t offset; int64_t image_stride; } lp_argument;
        typedef struct { lp_kernel function; int images; int first_argument; int arguments; int first_range; } lp_kernel_info;
        typedef struct { int output; int input; int64_t floats; } lp_copy;

        static const lp_argument arguments[] = {
        @ARGUMENTS@
        };
        static const lp_kernel_info kernels[] = {
        @KERNELS@
        };
        static const int64_t ranges[] = {@RANGES@};
        static const lp_copy copies[] = {
        @COPIES@
        };
        enum { KERNEL_COUNT = @KERNEL_COUNT@, PREFIX_KERNELS = @PREFIX_KERNELS@, IMAGES = @IMAGES@, IO_COUNT = @IO_COUNT@,
               INPUT_COUNT = @INPUT_COUNT@, COPY_COUNT = @COPY_COUNT@ };
        static const int64_t ARENA_FLOATS = @ARENA_FLOATS@, SCRATCH_FLOATS = @SCRATCH_FLOATS@;

        /* One kernel call, cut into chunks that the threads claim in turn. */
        typedef struct {
            lp_kernel function; float **arguments; int64_t first, items, chunks;
            atomic_llong next;
        } lp_job;

        struct @NAME@_model {
            float *arena, *scratch;
            float ****tables;           /* per kernel, per image: its table of argument pointers */
            int threads;
            pthread_t *helpers;
            pthread_mutex_t lock;
            pthread_cond_t start, finished;
            lp_job *job;
            long generation;
            int busy, stopping;
        };
        typedef struct @NAME@_model lp_model;

        static void work(lp_model *m, lp_job *job, int thread) {
            float *scratch = m->scratch + (int64_t)thread * SCRATCH_FLOATS;
            for (;;) {
                long long chunk = atomic_fetch_add(&job->next, 1);
                if (chunk >= job->chunks) return;
                int64_t begin = job->first + chunk * job->items / job->chunks;
                int64_t end = job->first + (chunk + 1) * job->items / job->chunks;
                job->function(job->arguments, begin, end, scratch);
            }
        }

        typedef struct { lp_model *model; int thread; } lp_helper;

        static void *helper(void *argument) {
            lp_helper self = *(lp_helper *)argument;
            free(argument);
            lp_model *m = self.model;
            long seen = 0;
            pthread_mutex_lock(&m->lock);
            for (;;) {
                while (m->generation == seen && !m->stopping) pthread_cond_wait(&m->start, &m->lock);
                if (m->stopping) break;
                seen = m->generation;
                lp_job *job = m->job;
                pthread_mutex_unlock(&m->lock);
                work(m, job, self.thread);
                pthread_mutex_lock(&m->lock);
                if (--m->busy == 0) pthread_cond_signal(&m->finished);
            }
            pthread_mutex_unlock(&m->lock);
            return NULL;
        }

        static void call(lp_model *m, int k, int image) {
            const lp_kernel_info *info = &kernels[k];
            int64_t first = ranges[2 * (info->first_range + image)], end = ranges[2 * (info->first_range + image) + 1];
            int64_t items = end - first;
            if (items <= 0) return;
            lp_job job;
            int64_t chunks = (int64_t)m->threads * 16;
            job.function = info->function;
            job.arguments = m->tables[k][image];
            job.first = first;
            job.items = items;
            job.chunks = chunks < items ? chunks : items;
            atomic_init(&job.next, 0);
            if (m->threads == 1 || items == 1) { work(m, &job, 0); return; }
            pthread_mutex_lock(&m->lock);
            m->job = &job;
            m->busy = m->threads - 1;
            m->generation++;
            pthread_cond_broadcast(&m->start);
            pthread_mutex_unlock(&m->lock);
            work(m, &job, 0);
            pthread_mutex_lock(&m->lock);
            while (m->busy > 0) pthread_cond_wait(&m->finished, &m->lock);
            pthread_mutex_unlock(&m->lock);
        }

        void @NAME@_destroy(lp_model *m) {
            if (!m) return;
            if (m->helpers) {
                pthread_mutex_lock(&m->lock);
                m->stopping = 1;
                pthread_cond_broadcast(&m->start);
                pthread_mutex_unlock(&m->lock);
                for (int t = 1; t < m->threads; t++) if (m->helpers[t]) pthread_join(m->helpers[t], NULL);
                free(m->helpers);
            }
            if (m->tables) {
                for (int k = 0; k < KERNEL_COUNT; k++) {
                    if (!m->tables[k]) continue;
                    for (int i = 0; i < kernels[k].images; i++) free(m->tables[k][i]);
                    free(m->tables[k]);
                }
                free(m->tables);
            }
            free(m->arena);
            free(m->scratch);
            pthread_mutex_destroy(&m->lock);
            pthread_cond_destroy(&m->start);
            pthread_cond_destroy(&m->finished);
            free(m);
        }

        static void *aligned(int64_t floats) {
            void *p = NULL;
            return posix_memalign(&p, 64, (size_t)(floats > 0 ? floats : 1) * sizeof(float)) == 0 ? p : NULL;
        }

        lp_model *@NAME@_create(int threads) {
            /* The kernels were compiled for a CPU with these features; elsewhere they would trap. */
            __builtin_cpu_init();
            if (!(@CPU_CHECK@)) return NULL;
            if (threads < 1) threads = 1;
            lp_model *m = calloc(1, sizeof *m);
            if (!m) return NULL;
            m->threads = threads;
            pthread_mutex_init(&m->lock, NULL);
            pthread_cond_init(&m->start, NULL);
            pthread_cond_init(&m->finished, NULL);
            m->arena = aligned(ARENA_FLOATS);
            m->scratch = aligned(SCRATCH_FLOATS * threads);
            m->tables = calloc(KERNEL_COUNT > 0 ? KERNEL_COUNT : 1, sizeof *m->tables);
            if (!m->arena || !m->scratch || !m->tables) { @NAME@_destroy(m); return NULL; }
            for (int k = 0; k < KERNEL_COUNT; k++) {
                const lp_kernel_info *info = &kernels[k];
                m->tables[k] = calloc(info->images, sizeof *m->tables[k]);
                if (!m->tables[k]) { @NAME@_destroy(m); return NULL; }
                for (int image = 0; image < info->images; image++) {
                    float **table = calloc(info->arguments > 0 ? info->arguments : 1, sizeof *table);
                    if (!table) { @NAME@_destroy(m); return NULL; }
                    m->tables[k][image] = table;
                    for (int a = 0; a < info->arguments; a++) {
                        const lp_argument *arg = &arguments[info->first_argument + a];
                        /* A per-image buffer: the kernel adds image * stride itself, so the table points that far before it. */
                        if (arg->kind == ARENA) table[a] = m->arena + arg->offset - image * arg->image_stride;
                        else if (arg->kind == BLOB) table[a] = (float *)@NAME@_lowpass_blob + arg->offset;
                        else table[a] = NULL;
                    }
                }
            }
            m->helpers = calloc(threads, sizeof *m->helpers);
            if (!m->helpers) { @NAME@_destroy(m); return NULL; }
            for (int t = 1; t < threads; t++) {
                lp_helper *h = malloc(sizeof *h);
                if (!h) { @NAME@_destroy(m); return NULL; }
                h->model = m; h->thread = t;
                if (pthread_create(&m->helpers[t], NULL, helper, h) != 0) { free(h); m->helpers[t] = 0; @NAME@_destroy(m); return NULL; }
            }
            return m;
        }

        int @NAME@_run(lp_model *m, const float *const inputs[], float *const outputs[]) {
            float *io[IO_COUNT > 0 ? IO_COUNT : 1];
            for (int i = 0; i < IO_COUNT; i++) io[i] = i < INPUT_COUNT ? (float *)inputs[i] : outputs[i - INPUT_COUNT];
            for (int k = 0; k < KERNEL_COUNT; k++) {
                const lp_kernel_info *info = &kernels[k];
                for (int a = 0; a < info->arguments; a++) {
                    const lp_argument *arg = &arguments[info->first_argument + a];
                    if (arg->kind == IO) for (int i = 0; i < info->images; i++) m->tables[k][i][a] = io[arg->offset];
                }
            }
            for (int image = 0; image < IMAGES; image++)
                for (int k = 0; k < PREFIX_KERNELS; k++) call(m, k, image);
            for (int k = PREFIX_KERNELS; k < KERNEL_COUNT; k++) call(m, k, 0);
            for (int c = 0; c < COPY_COUNT; c++) memcpy(io[copies[c].output], io[copies[c].input], (size_t)copies[c].floats * sizeof(float));
            return 0;
        }
        """#
}
