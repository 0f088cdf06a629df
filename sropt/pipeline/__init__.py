"""The pipeline runner: pipelines.yaml -> cached stages -> a run folder with reports and gates.

Public entry points: ``load_pipelines`` (config), ``run_pipeline`` (runner),
``evaluate_gates`` (gates), ``write_junit`` (CI output).
"""
