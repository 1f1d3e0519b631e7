"""Entity linking to KB ids: mentions in, ranked concept ids of the mention's semantic group out."""
