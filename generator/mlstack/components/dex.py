"""Derived values of the dex row (data/components.yaml): the bundled OIDC issuer's config.

On where environment.yaml turns `auth` on without an external `issuer`. Dex issues the
JWTs the gateway checks (components/model_auth.py); its issuer URL is derived from the one
domain and scheme (`<scheme>://dex.<domain>/dex`, published through the gateway), so
tokens, the RequestAuthentication and `make smoke` agree, and `domain: auto` rewrites it
at install time like every other domain-derived value.

No secret is in Git: the static users' bcrypt hashes and the OAuth client's secret are
read from a Secret the user creates (`auth.dex.usersSecret`), through environment
variables (Dex `hashFromEnv` / `secretEnv`). The password grant (`passwordConnector:
local`) lets `make smoke` get a token without a browser. Where JupyterHub is on, it is a
second client (`jupyterhub`, redirect to `jupyter.<domain>/hub/oauth_callback`): users log
in to notebooks with the same accounts that call the models.
"""

from __future__ import annotations

import re
from typing import Any

from mlstack.lib.facts import DEX_PORT, JUPYTERHUB, Facts

CLIENT_SECRET_ENV = "DEX_CLIENT_SECRET"
#: The key of the OAuth client's secret in the users Secret (the others are user names).
CLIENT_SECRET_KEY = "client-secret"
#: JupyterHub's client (its id is the release's: JupyterHub names it so): its secret's
#: key in the users Secret, and the env var Dex reads it from.
HUB_SECRET_KEY = "jupyterhub-client-secret"
HUB_SECRET_ENV = "DEX_JUPYTERHUB_CLIENT_SECRET"


def hash_env(username: str) -> str:
    return "DEX_HASH_" + re.sub(r"[^A-Z0-9]", "_", username.upper())


def _from_secret(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def derive(facts: Facts) -> dict[str, Any]:
    dex = facts.env.auth.dex
    env = [_from_secret(CLIENT_SECRET_ENV, dex.users_secret, CLIENT_SECRET_KEY)]
    env += [_from_secret(hash_env(u.username), dex.users_secret, u.username) for u in dex.users]
    clients: list[dict[str, Any]] = [
        {"id": dex.client_id, "name": dex.client_id, "secretEnv": CLIENT_SECRET_ENV}
    ]
    if JUPYTERHUB in facts.enabled:
        env.append(_from_secret(HUB_SECRET_ENV, dex.users_secret, HUB_SECRET_KEY))
        clients.append(
            {
                "id": JUPYTERHUB,
                "name": "JupyterHub",
                "secretEnv": HUB_SECRET_ENV,
                "redirectURIs": [facts.jupyter_callback],
            }
        )
    config = {
        "issuer": facts.dex_issuer,
        "storage": {"type": "kubernetes", "config": {"inCluster": True}},
        "web": {"http": f"0.0.0.0:{DEX_PORT}"},
        "oauth2": {"passwordConnector": "local", "skipApprovalScreen": True},
        "enablePasswordDB": True,
        "staticClients": clients,
        "staticPasswords": [
            {
                "email": u.email,
                "username": u.username,
                "userID": u.username,
                "hashFromEnv": hash_env(u.username),
            }
            for u in dex.users
        ],
    }
    return {"dex": {"config": config, "envVars": env}}
