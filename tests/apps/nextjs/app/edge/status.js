"use client";
import { useTokenStatus } from "mdh-token/react";

export function Status() {
  const status = useTokenStatus();
  return <p id="edge-status">{status ? `${status.state} ${status.brokerCalls}` : "starting"}</p>;
}
