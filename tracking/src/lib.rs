//! placeholder: the tracking service (issue 5) is being written
