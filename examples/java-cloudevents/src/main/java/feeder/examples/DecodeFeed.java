package feeder.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cloudevents.CloudEvent;
import io.cloudevents.kafka.CloudEventDeserializer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads feeder's event topics from the beginning to their current end and decodes every record
 * with the CloudEvents SDK's {@link CloudEventDeserializer}, which detects the content mode
 * (structured or binary) from the record's headers, as the CloudEvents Kafka binding says.
 *
 * <p>Usage: {@code java -jar feeder-cloudevents-decode.jar BOOTSTRAP TOPIC [TOPIC...]}. Prints
 * one JSON line per record (its attributes, or why it did not decode), then a summary line
 * {@code {"records":N,"decoded":M}}; exits 1 when a record did not decode.
 */
public final class DecodeFeed {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration DEADLINE = Duration.ofMinutes(2);

  private DecodeFeed() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: DecodeFeed BOOTSTRAP_SERVERS TOPIC [TOPIC...]");
      System.exit(2);
    }
    Properties config = new Properties();
    config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    // Raw bytes here, so a record that does not decode is counted instead of failing poll().
    config.put(
        ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");

    long records = 0;
    long decoded = 0;
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(config);
        CloudEventDeserializer events = new CloudEventDeserializer()) {
      events.configure(Map.of(), false);
      List<TopicPartition> partitions = new ArrayList<>();
      for (int i = 1; i < args.length; i++) {
        for (PartitionInfo info : consumer.partitionsFor(args[i])) {
          partitions.add(new TopicPartition(info.topic(), info.partition()));
        }
      }
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      Instant deadline = Instant.now().plus(DEADLINE);
      while (!partitions.stream().allMatch(p -> consumer.position(p) >= end.get(p))) {
        if (Instant.now().isAfter(deadline)) {
          throw new IllegalStateException("the topics' ends were not reached in " + DEADLINE);
        }
        for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(500))) {
          records++;
          ObjectNode line = JSON.createObjectNode();
          line.put("topic", record.topic());
          line.put("partition", record.partition());
          line.put("offset", record.offset());
          line.put("key", record.key());
          try {
            CloudEvent event = events.deserialize(record.topic(), record.headers(), record.value());
            describe(event, line);
            decoded++;
          } catch (RuntimeException error) {
            line.put("error", error.toString());
          }
          System.out.println(JSON.writeValueAsString(line));
        }
      }
    }
    ObjectNode summary = JSON.createObjectNode();
    summary.put("records", records);
    summary.put("decoded", decoded);
    System.out.println(JSON.writeValueAsString(summary));
    System.err.printf("decoded %d of %d records%n", decoded, records);
    System.exit(decoded == records ? 0 : 1);
  }

  private static void describe(CloudEvent event, ObjectNode line) throws Exception {
    line.put("specversion", event.getSpecVersion().toString());
    line.put("id", event.getId());
    line.put("type", event.getType());
    line.put("source", event.getSource().toString());
    line.put("time", event.getTime() == null ? null : event.getTime().toInstant().toString());
    line.put("subject", event.getSubject());
    line.put("datacontenttype", event.getDataContentType());
    ObjectNode extensions = line.putObject("extensions");
    for (String name : event.getExtensionNames()) {
      extensions.put(name, String.valueOf(event.getExtension(name)));
    }
    JsonNode data = event.getData() == null ? null : JSON.readTree(event.getData().toBytes());
    line.put("dataSessionId", data == null ? null : data.path("sessionId").asText(null));
  }
}
