//! placeholder: the Pulsar test broker (issue 4) is being written
