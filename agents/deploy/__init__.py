"""Deployment as one package: `addresses` (the `Deployment` agents load), `system` (deploying with Ape for
local chains and tests), and the planned, recorded, resumable deployment behind `ape run deploy`:
`record` (the deployments file), `contracts` (artifacts and code checks), `plan` (what a run would do,
with estimates) and `execute` (sending, resuming, and the Ape adapters)."""
