"""The shared kernel: the few small definitions several domain packages need.

Why: a domain package that needs another one's vocabulary (who is acting, a channel name, the
shape of a claim code) would otherwise import that whole package, and two packages doing so
both ways form a cycle. Kernel modules import nothing from the domain packages of `core`
(only `core.db`, `core.errors` and the standard library), so anything may import them.
"""
