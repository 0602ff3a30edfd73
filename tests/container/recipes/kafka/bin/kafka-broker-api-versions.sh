#!/usr/bin/env bash
# Kafka's kafka-broker-api-versions.sh, as the official image has it at this path:
# docker-compose.yml's health check runs it.
exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Dlog4j2.configurationFile=/etc/kafka/docker/log4j2.yaml \
  -cp '/opt/kafka/tools-libs/*' org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
