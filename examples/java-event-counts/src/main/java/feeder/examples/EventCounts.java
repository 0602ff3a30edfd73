package feeder.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads feeder's events topic from the beginning up to its end (as it was at start) and prints
 * how many records and how many distinct events (by event id) it holds per CloudEvents type.
 *
 * <p>The type and id come from the {@code ce_type} and {@code ce_id} headers when a record has
 * them (binary content mode always does; feeder adds them in structured mode too) and otherwise
 * from the structured CloudEvent JSON in the value. Duplicates (a re-send after a crash) share the
 * event id, so the distinct column is what a deduplicating consumer handles.
 *
 * <p>Settings from the environment: {@code BOOTSTRAP_SERVERS} (default 127.0.0.1:9092),
 * {@code TOPIC} (default oasis.sessions.events).
 */
public final class EventCounts {
  private static final ObjectMapper JSON = new ObjectMapper();

  private EventCounts() {}

  public static void main(String[] args) {
    String bootstrap = System.getenv().getOrDefault("BOOTSTRAP_SERVERS", "127.0.0.1:9092");
    String topic = System.getenv().getOrDefault("TOPIC", "oasis.sessions.events");
    Properties config = new Properties();
    config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    // Only what a transactional (exactly-once) feed committed; the same as usual otherwise.
    config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");

    Map<String, Long> records = new TreeMap<>();
    Map<String, Set<String>> distinct = new HashMap<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(config)) {
      List<TopicPartition> partitions =
          consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
              .map(info -> new TopicPartition(topic, info.partition()))
              .toList();
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofSeconds(30));
      while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
        for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) {
          String[] typeAndId = typeAndId(record);
          records.merge(typeAndId[0], 1L, Long::sum);
          distinct.computeIfAbsent(typeAndId[0], t -> new HashSet<>()).add(typeAndId[1]);
        }
      }
    }
    long total = 0;
    long totalDistinct = 0;
    System.out.println("# ce_type\trecords\tdistinct_events");
    for (Map.Entry<String, Long> entry : records.entrySet()) {
      int events = distinct.get(entry.getKey()).size();
      System.out.printf("%s\t%d\t%d%n", entry.getKey(), entry.getValue(), events);
      total += entry.getValue();
      totalDistinct += events;
    }
    System.out.printf("total\t%d\t%d%n", total, totalDistinct);
  }

  /** The CloudEvents type and id of a record: headers first, else the structured JSON value. */
  private static String[] typeAndId(ConsumerRecord<byte[], byte[]> record) {
    String type = header(record, "ce_type");
    String id = header(record, "ce_id");
    if (type == null || id == null) {
      try {
        JsonNode event = JSON.readTree(record.value());
        type = type != null ? type : event.path("type").asText("(no type)");
        id = id != null ? id : event.path("id").asText(record.topic() + "@" + record.offset());
      } catch (IOException e) {
        type = "(not a CloudEvent)";
        id = record.topic() + "@" + record.offset();
      }
    }
    return new String[] {type, id};
  }

  private static String header(ConsumerRecord<byte[], byte[]> record, String name) {
    Header header = record.headers().lastHeader(name);
    return header == null ? null : new String(header.value(), StandardCharsets.UTF_8);
  }
}
