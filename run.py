"""staticdyn entry point: ``python run.py model=slowfast_r50 dataset=ssv2 probe.n_pairs=3000``.

Hydra composes conf/config.yaml with one entry of each group (model, dataset, probe);
``python run.py --help`` lists the groups and their options.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from staticdyn.errors import StaticDynError
from staticdyn.experiments import dispatch
from staticdyn.experiments.hydra_job import HydraJob
from staticdyn.probe.allocator import huge_pages_for_tensors


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    # The run directory gets .hydra/ and the job log only once the run is accepted: a refused
    # run leaves a finished run's directory as it was (staticdyn/experiments/hydra_job.py).
    huge_pages_for_tensors()  # before torch is imported (dispatch imports it)
    job = HydraJob(cfg)
    log = logging.getLogger("staticdyn")
    try:
        dispatch(cfg, accept=job.accept)
    except Exception as exc:
        if job.multirun:
            # one failed job must not stop the sweep: record it, report it at the end
            from staticdyn.experiments.callbacks import record_failure

            log.error("job failed: %s: %s", type(exc).__name__, exc, exc_info=True)
            record_failure(job.run_dir, exc)
            return
        if isinstance(exc, StaticDynError):
            log.error("%s", exc)
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        raise
    finally:
        job.close()


if __name__ == "__main__":
    main()
