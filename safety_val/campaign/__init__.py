"""Campaigns: scenarios × analyses × budgets × targets, run nightly, resumably, with a history.

A campaign file is YAML with a top-level ``campaign:`` mapping::

    campaign:
      name: nightly
      seed: 0                       # seed of every job (a scenario entry may override it)
      target: 1.0e-3                # default acceptance target: pf per exposure, in (0, 1)
      method: auto                  # default reliability method
      target_cov: 0.1               # default stopping CoV
      alpha: 0.01                   # family-wise false-alarm rate of the regression test
      scenarios:
        - file: ../scenarios/cut_in.yaml     # relative to the campaign file
          name: cut_in_weak_aeb              # optional job name (default: the scenario's)
          analyses: [estimate]               # estimate (pf) | pipeline (whole pipeline)
          budgets: [2000]                    # simulator-call budgets
          target: 5.0e-2
          fixed: {aeb_ttc_full: 0.6}         # overrides of the system under test
          options: {block_size: 100}         # options of the reliability method
          pipeline: {n_doe: 500, ambiguity: odd}   # settings of 'pipeline' jobs

:func:`load_campaign` validates everything before anything runs: every scenario file
is loaded (a missing one is one line naming the campaign file, the field and the
value), every ``fixed`` override is checked against the scenario's simulator template.

:func:`run_campaign` runs each *job* (scenario entry × analysis × budget) in its own run
directory under the campaign's folder, so a killed campaign resumes where it stopped and
a re-run re-uses the finished jobs. With a Ray executor the jobs themselves run as Ray
tasks (each sending its simulation batches to the same cluster as nested tasks); otherwise
they run one after another with the executor parallelising their batches. Each job's
result is compared with the previous run of the same job in the history
(:mod:`safety_val.campaign.regression`), appended to the history
(:mod:`safety_val.campaign.history`) and written to a summary report (JSON + HTML).
:attr:`CampaignRun.exit_code` is 1 when a target is missed (verdict "not met"), a pf got
significantly worse, or a job failed.

The package: :mod:`~safety_val.campaign.definition` (the campaign file),
:mod:`~safety_val.campaign.runner` (running jobs and campaigns),
:mod:`~safety_val.campaign.history` (the run history), :mod:`~safety_val.campaign.regression`
(the regression test) and :mod:`~safety_val.campaign.summary` (the JSON and HTML summary).
"""

from __future__ import annotations

from safety_val.campaign.definition import ANALYSES, Campaign, CampaignEntry, Job, load_campaign
from safety_val.campaign.runner import CampaignRun, JobOutcome, run_campaign, run_job

__all__ = [
    "ANALYSES",
    "Campaign",
    "CampaignEntry",
    "CampaignRun",
    "Job",
    "JobOutcome",
    "load_campaign",
    "run_campaign",
    "run_job",
]
