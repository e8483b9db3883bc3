"""Create the DAG runs the scheduler would create now (its own step, in process), and report one DAG's run.

``python scheduler_step.py <dag_id>`` in an Airflow environment: runs the scheduler job runner's
``_create_dagruns_for_dags`` and ``_start_queued_dagruns`` once, as the scheduler loop does (Airflow 3.1's
``tasks test`` refuses a run that has not started), then prints as JSON the newest run of
``<dag_id>``: its id, its type and how many asset (dataset) events it consumed. Used by test_lineage.py
to show that an export's asset event schedules the downstream DAG without starting a scheduler process.
"""

from __future__ import annotations

import json
import sys

from sqlalchemy import select

from airflow.jobs.job import Job
from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session
from airflow.utils.sqlalchemy import prohibit_commit


def main(dag_id: str) -> int:
    runner = SchedulerJobRunner(job=Job(), num_runs=1)
    with create_session() as session, prohibit_commit(session) as guard:
        runner._create_dagruns_for_dags(guard, session)
        guard.commit()
    with create_session() as session:  # its next step: a queued run starts (running, with a start date)
        runner._start_queued_dagruns(session)
    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc())).first()
        if run is None:
            print(json.dumps(None))
            return 1
        consumed = getattr(run, "consumed_asset_events", None)
        if consumed is None:
            consumed = run.consumed_dataset_events
        print(json.dumps({"run_id": run.run_id, "run_type": str(getattr(run.run_type, "value", run.run_type)), "consumed_events": len(consumed)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
