//! Process output: pumps from pipes to rotating files, an in-memory tail and
//! live followers.
