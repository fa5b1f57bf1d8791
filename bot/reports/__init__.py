"""The weekly restart-hotspot report: which workloads keep crashing, is it getting better, what did we do about it.

Modules, in the order data flows: `config` (the `reports:` section), `sampler` (restart counts from the cluster when
there is no Prometheus), `prometheus` and `owndata` (the two data sources; `owndata` also says how far back the
samples reach, and reads incidents and remedies applied), `hotspots` (ranking, the workloads listed for their
incidents or remedies, suggestions), `wording`, `chart` and `render` (phrases, PNG, Block Kit, plain text), `service`
(build and post, the one entry point), `schedule` (cron, exactly once per environment and period) and `lifecycle`
(the aiohttp cleanup context).

Nothing is imported here: `bot.core.config` imports `bot.core.report_settings`, and the rest imports `bot.core.config`.
"""
