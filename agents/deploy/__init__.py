"""Deployment: addresses of a deployment, deploying with Ape for local chains and tests, and the planned,
recorded, resumable deployment behind `ape run deploy`."""
