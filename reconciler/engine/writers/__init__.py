"""Writers: how a decided release or revert reaches the branch Flux applies."""
