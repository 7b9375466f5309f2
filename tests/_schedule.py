"""The order the suite's tests are handed out in (tests/conftest.py): the long ones first, longest
first, so that under pytest-xdist the short ones fill in around them and no worker is left with a
long test at the end while the others are idle. Only the order: every collected test runs.

LONG: node-id prefixes and about how many seconds the matching tests took each, from a
--durations=0 run on a loaded 2-core machine (the ratios are what count). A test the list does
not name counts as short. Tests that share a once-per-session run are named by the one that
should start it (the bench command line's quick run: test_cli_writes_its_three_files...); the
others keep their place further on, by when the run is there to read."""
from __future__ import annotations

LONG = [
    ("tests/test_bench_cli.py::test_cli_writes_its_three_files_and_names_the_folder", 89),
    ("tests/test_bench_cli.py::test_ctrl_c_stops_cleanly", 41),
    ("tests/test_bench_smoke.py::test_report_structure", 37),
    ("tests/test_norms_half.py::test_torch_opcheck_16bit", 25),
    ("tests/test_torch_distributed.py::test_two_process_gloo_sync_batch_norm", 30),
    ("tests/test_torch_distributed_stacks.py::test_two_ranks", 14),
    ("tests/test_docs_code.py::test_python_block_runs[README.md:11]", 30),
    ("tests/test_torch_channel_dropout.py::test_fullgraph_compile_matches_eager", 19),
    ("tests/test_bench_contention.py::test_contention_section_runs_in_tiny_mode", 17),
    ("tests/test_examples.py::test_example_tiny[initialization.py]", 15),
    ("tests/test_docs_code.py::test_python_block_runs[docs/averaging.md:259]", 14),
    ("tests/test_threads.py::test_pytorch_dataloader_workers_forked", 13),
    ("tests/test_torch_compile.py::test_fullgraph_compile_matches_eager", 11),
    ("tests/test_hostile_api.py::test_crash_prone_cases_natively_in_a_subprocess", 10),
    ("tests/test_torch_bench.py::test_torch_modules_section_runs", 9),
    ("tests/test_docs_code.py::test_python_block_runs[docs/averaging.md:200]", 8),
    ("tests/test_docs_code.py::test_python_block_runs[README.md:126]", 7),
    ("tests/test_examples.py::test_example_tiny[overfitting.py]", 7),
    ("tests/test_hostile_inputs.py::test_crash_prone_native_calls_run_in_a_subprocess", 7),
    ("tests/test_torch_averaging.py::test_fused_update_compiles_without_graph_breaks", 6),
    ("tests/test_channel_dropout.py::test_identical_across_backends_isas_and_threads", 6),
    ("tests/test_bench_smoke.py::test_plot", 6),
    ("tests/test_torch_averaging.py::test_opcheck", 6),
    ("tests/test_torch_e2e.py::test_digits_mlp_reaches_torch_accuracy", 5),
    # each of these starts a fresh interpreter that imports regcore
    ("tests/test_env.py::test_missing_compiled_module_is_reported_as_missing", 10),
    ("tests/test_threads.py::test_threadpoolctl_caps_and_lists_regcore", 5),
    ("tests/test_threads.py::test_a_forked_child_can_call_regcore", 4),
    ("tests/test_examples.py::test_example_tiny", 3),
    ("tests/test_norms_half.py::test_numpy_and_native_elementwise_bit_identical[shape2-", 4),
    ("tests/test_batchnorm.py::test_numpy_and_native_elementwise_bit_identical[shape2-", 3),
    ("tests/test_averaging.py::test_every_backend_isa_and_thread_count_gives_the_same_bits", 3),
    ("tests/test_init.py::test_every_sampler_is_bit_identical_across_backends_and_threads[shape6-", 2),
    # the CUDA-on-CPU check binary, each run once its build is there (tests/conftest.py)
    ("tests/test_cuda_on_cpu.py::test_cuda_kernels_on_cpu_sanitized", 36),
    ("tests/test_cuda_on_cpu.py::test_cuda_kernels_on_cpu[fwd-1]", 36),
    ("tests/test_cuda_on_cpu.py::test_cuda_kernels_on_cpu[", 20),
]


def seconds(nodeid: str) -> float:
    """About how long the test takes (the longest prefix of LONG that matches; 0 for short)."""
    best, length = 0.0, -1
    for prefix, s in LONG:
        if nodeid.startswith(prefix) and len(prefix) > length:
            best, length = float(s), len(prefix)
    return best
