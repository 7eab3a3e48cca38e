"""A local identity stack, so azure mode runs for real on loopback (tests and dev only).

- ``pki``: a throwaway CA and a server certificate for 127.0.0.1, plus the token-signing key.
- ``entra``: an OAuth2/OIDC token endpoint over HTTPS (client credentials per tenant: secret,
  certificate or federated client assertion) that can answer chosen ``AADSTS`` errors, and an
  App Service style managed-identity endpoint.
- ``front``: an enforcing HTTPS front before an Azurite started with ``--oauth basic``: the
  storage bearer challenge naming the account's tenant, token checks, role assignments at account
  or container scope with the container-name ABAC condition, network rules, CORS preflights and a
  propagation delay.
- ``stack``: starts everything and exposes what a test changes (tenants, service principals,
  role assignments, CORS, firewall) and the app settings that point the app at it.

The app reaches all of it through settings only (authority host, blob endpoint, CA bundle).
"""
