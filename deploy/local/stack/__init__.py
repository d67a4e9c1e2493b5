"""The local runtime and the operations tools, on top of the pipeline: renders configs, runs the engines under
supervisord and waits until they are healthy (`python -m stack up|down|status|...`); operates the Spark job
(`stack.lag`, `stack.reset_checkpoint`, `stack.task_log`, `stack.submit`). Used by the Makefile, the tests
and the benchmarks; nothing in the pipeline imports it.
"""
