"""GitOps output: Argo CD and Flux manifests from the same release plan, and the Git sync.

`plan` derives each release's facts from the resolved environment and the committed
charts (install position, CRDs it brings, CRDs it needs, values layering); `argocd` and
`flux` only translate those facts into each tool's objects, so the two cannot disagree
about order; `tree` assembles and validates the layout on top of the three. `owned`
writes a tree it marks as its own; `sync` puts that tree in a Git repository.
"""
