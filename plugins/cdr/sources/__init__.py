"""The sources: the page loop, paging and HTTP shared by the pulls, the hook base, one package each."""
