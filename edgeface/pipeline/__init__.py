"""``edgeface pipeline``: data -> trained detector and recognizer -> TFLite and Hexagon
artifacts -> evaluation of every artifact -> the bundle to ship -> benchmarks -> report,
with every stage cached by the hash of its inputs (see docs/pipeline.md).

    from edgeface.pipeline import load_config, run_pipeline
    result = run_pipeline(load_config(None), Path("runs/pipeline"))
    result.report, result.bundle
"""

from edgeface.pipeline.config import PipelineConfig, PipelineConfigError, default_config_text, load_config, parse_config
from edgeface.pipeline.runner import PipelineError, PipelineResult, run_pipeline, stage_names

__all__ = ["PipelineConfig", "PipelineConfigError", "PipelineError", "PipelineResult", "default_config_text",
           "load_config", "parse_config", "run_pipeline", "stage_names"]
